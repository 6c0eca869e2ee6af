/*
 * Click a figure to see it full size: an overlay shows the image at its own resolution (scrolling
 * if it is larger than the window); a click, Escape or the close button puts it away. Applies to
 * the notebooks' output images and to figures; the players' frames and the Play page are left alone.
 */
(function () {
  "use strict";

  function close(overlay) {
    overlay.remove();
    document.body.classList.remove("rssm-zoom-open");
  }

  function open(img) {
    const overlay = document.createElement("div");
    overlay.className = "rssm-zoom";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "Figure at full size (click or press Escape to close)");
    const big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt || "";
    const button = document.createElement("button");
    button.className = "rssm-zoom__close";
    button.type = "button";
    button.textContent = "\u00d7";
    button.setAttribute("aria-label", "Close");
    overlay.append(button, big);
    overlay.addEventListener("click", () => close(overlay));
    document.addEventListener("keydown", function onKey(event) {
      if (event.key === "Escape") {
        close(overlay);
        document.removeEventListener("keydown", onKey);
      }
    });
    document.body.append(overlay);
    document.body.classList.add("rssm-zoom-open");
    button.focus();
  }

  function zoomable(img) {
    return !img.closest(".rssm-player, .rssm-play, a, .rssm-zoom");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const images = document.querySelectorAll("article .cell_output img, article figure img");
    for (const img of images) {
      if (!zoomable(img)) continue;
      img.classList.add("rssm-zoomable");
      img.title = img.title || "Click to see the figure full size";
      img.addEventListener("click", () => open(img));
    }
  });
})();
