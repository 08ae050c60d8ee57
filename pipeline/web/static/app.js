// clipwatch: click a transcript line or keyframe to seek; ?t= opens at that second; follow the playing line.
(function () {
  "use strict";
  var player = document.getElementById("player");
  if (!player) return;
  var lines = Array.prototype.slice.call(document.querySelectorAll("li.line[data-seek]"));

  function seek(t, play) {
    if (isNaN(t)) return;
    var go = function () {
      player.currentTime = t;
      if (play) { var p = player.play(); if (p && p.catch) p.catch(function () {}); }
    };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
    try { history.replaceState(null, "", "?t=" + Math.floor(t)); } catch (e) {}
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-seek]") : null;
    if (!el || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;  // let modified clicks open ?t= links
    ev.preventDefault();
    seek(parseFloat(el.getAttribute("data-seek")), true);
  });

  var current = null;
  function follow() {
    var t = player.currentTime, found = null;
    for (var i = 0; i < lines.length; i++) {
      var a = parseFloat(lines[i].getAttribute("data-seek")), b = parseFloat(lines[i].getAttribute("data-end"));
      if (t >= a && t < b) { found = lines[i]; break; }
    }
    if (found !== current) {
      if (current) current.classList.remove("current");
      if (found) found.classList.add("current");
      current = found;
    }
  }
  player.addEventListener("timeupdate", follow);
  player.addEventListener("seeked", follow);

  var start = parseFloat(document.body.getAttribute("data-start"));
  if (!isNaN(start)) {
    seek(start, false);
    var target = null;
    lines.forEach(function (l) { if (parseFloat(l.getAttribute("data-seek")) <= start) target = l; });
    if (target) target.scrollIntoView({ block: "center" });
  }
})();

// A search hit on a comment links to #comment-N inside the collapsed "Comments (N)" section: open it and show it.
(function () {
  function openComment() {
    if (location.hash.indexOf("#comment") !== 0) return;
    var box = document.getElementById("comments"), el = document.getElementById(location.hash.slice(1));
    if (box) box.open = true;
    if (el) el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", openComment);
  openComment();
})();
