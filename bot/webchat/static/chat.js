// The web chat's one script of its own. The page works without it; with it, the location button
// appears, asks the browser for the place only when pressed, and the newest message stays in view.
"use strict";
(function () {
  function wire(root) {
    if (!("geolocation" in navigator)) return;
    root.querySelectorAll("button.geo").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var form = document.getElementById("chat-form");
        button.disabled = true;
        navigator.geolocation.getCurrentPosition(function (pos) {
          document.getElementById("lat").value = pos.coords.latitude.toFixed(6);
          document.getElementById("lon").value = pos.coords.longitude.toFixed(6);
          form.requestSubmit ? form.requestSubmit() : form.submit();
        }, function () {
          button.disabled = false;
          var note = document.createElement("p");
          note.className = "notice";
          note.textContent = button.getAttribute("data-failed");
          button.parentNode.appendChild(note);
        }, { timeout: 15000, maximumAge: 60000 });
      });
    });
  }
  function printable(root) {
    root.querySelectorAll("button.print").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }
  function settle() {
    printable(document);
    wire(document);
    var latest = document.getElementById("latest");
    if (latest) latest.scrollIntoView({ block: "end" });
  }
  document.addEventListener("DOMContentLoaded", settle);
  document.addEventListener("htmx:afterSettle", settle);
})();
