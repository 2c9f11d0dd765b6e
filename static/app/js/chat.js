// Chat page behaviour around the htmx websocket: message ids (so a message re-sent after a
// reconnect is stored once), the hint and stuck buttons, a live math preview, and the connection state.
(function () {
  var form = document.getElementById("chat-form");
  var box = document.getElementById("message");
  var idField = document.getElementById("client_id");
  var preview = document.getElementById("preview");
  var conn = document.getElementById("conn");
  function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  if (idField) idField.value = newId();

  if (form) {
    form.querySelectorAll("button[data-say]").forEach(function (b) {
      b.addEventListener("click", function () { box.value = b.getAttribute("data-say"); });
    });
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
    });
    box.addEventListener("input", function () {
      var v = box.value;
      if (!window.katex || !/[\\^_]|\d\/\d/.test(v)) { preview.textContent = ""; return; }
      try { window.katex.render(v.replace(/(\d+)\/(\d+)/g, "\\frac{$1}{$2}"), preview, { throwOnError: false }); }
      catch (e) { preview.textContent = ""; }
    });
  }
  document.body.addEventListener("htmx:wsAfterSend", function () {
    if (!box) return;
    box.value = ""; preview.textContent = ""; idField.value = newId();
    conn.textContent = "The tutor is thinking…";
  });
  document.body.addEventListener("htmx:wsOpen", function () { conn.textContent = "Connected."; });
  document.body.addEventListener("htmx:wsClose", function () {
    conn.textContent = "Connection lost — reconnecting… Your messages are saved.";
  });
  document.body.addEventListener("htmx:wsAfterMessage", function () {
    var pending = document.querySelector(".turn-tutor.pending");
    conn.textContent = pending ? "The tutor is replying…" : "Connected.";
    var t = document.getElementById("transcript");
    t.scrollTop = t.scrollHeight;
    if (window.renderMath) window.renderMath(t);
  });
})();
