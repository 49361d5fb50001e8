// wheretolisten report: a click on a gallery figure plays its scene from the time under the pointer;
// a playhead follows the sound across the figure; one player sounds at a time.
(function () {
  "use strict";
  const figures = document.querySelectorAll("figure.play");
  figures.forEach((f) => {
    const img = f.querySelector("img"), audio = f.querySelector("audio"), head = f.querySelector(".playhead");
    const x0 = parseFloat(f.dataset.x0), x1 = parseFloat(f.dataset.x1), end = parseFloat(f.dataset.t1);
    function place() {
      const share = x0 + (x1 - x0) * Math.min(audio.currentTime / end, 1);
      head.style.left = (img.offsetLeft + share * img.clientWidth) + "px";
      head.style.top = img.offsetTop + "px";
      head.style.height = img.clientHeight + "px";
      head.style.display = "block";
    }
    img.addEventListener("click", (e) => {
      const r = img.getBoundingClientRect();
      const t = ((e.clientX - r.left) / r.width - x0) / (x1 - x0) * end;
      audio.currentTime = Math.min(Math.max(t, 0), end);
      place();
      const p = audio.play();
      if (p && p.catch) p.catch(() => {});  // a browser that refuses to play leaves the player paused
    });
    audio.addEventListener("play", () => {
      figures.forEach((g) => { const other = g.querySelector("audio"); if (other !== audio) other.pause(); });
    });
    ["timeupdate", "seeked", "play"].forEach((name) => audio.addEventListener(name, place));
  });
})();
