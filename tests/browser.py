"""A headless Chromium for the browser tests (Debian's chromium + chromedriver, driven by selenium).

Tests that need it skip, saying what to install, when selenium, Chromium or chromedriver is absent.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

MISSING = (
    "browser tests need selenium (the dev extra) and Chromium with its driver "
    "(Debian: apt-get install -y chromium chromium-driver)"
)


def chromium_paths() -> tuple[str, str] | None:
    """(browser, chromedriver) executables, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def new_driver(width: int = 1300, height: int = 1000) -> Any:
    """A headless Chromium that may play audio without a gesture and keeps the console log."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(MISSING)
    paths = chromium_paths()
    if paths is None:
        pytest.skip(MISSING)
    browser, driver = paths
    options = Options()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def console_errors(driver: Any) -> list[str]:
    """Console messages of level SEVERE since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def wait_for(driver: Any, script: str, timeout: float = 10.0) -> Any:
    """Run ``script`` (a JS expression) until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(f"return {script}")
    )
