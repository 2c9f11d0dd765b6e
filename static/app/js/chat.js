// Chat page behaviour around the htmx websocket: message ids, re-sending what the server has not
// acknowledged, the hint and stuck buttons, a live math preview, and the connection state.
//
// Every message carries a client id. It stays in `unacked` until the server's reply to it arrives:
// the student's bubble (data-client-id) or a notice that refused it (data-refused). A message sent
// just before the connection died is re-sent, with the same id, when the socket opens again; the
// server stores a message once per id, so a message that did arrive is not stored twice.
(function () {
  var form = document.getElementById("chat-form");
  var box = document.getElementById("message");
  var idField = document.getElementById("client_id");
  var preview = document.getElementById("preview");
  var conn = document.getElementById("conn");
  var transcript = document.getElementById("transcript");
  var unacked = [];  // [{id, message, body}] in the order sent
  var open = false;
  function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  if (idField) idField.value = newId();

  function marked(attr, id) {
    return document.querySelector("[" + attr + '="' + (window.CSS ? CSS.escape(id) : id) + '"]');
  }
  function settle() {
    // Acknowledged: the bubble is on the page. Refused (too long, too fast, not stored): the text goes
    // back into the box, if it is empty, for the student to send again.
    unacked = unacked.filter(function (m) {
      if (marked("data-client-id", m.id)) return false;
      if (marked("data-refused", m.id)) {
        if (box && !box.value) box.value = m.message;
        return false;
      }
      return true;
    });
    // A re-sent message the server had stored comes back with its bubbles: keep one of each turn.
    var seen = {};
    transcript.querySelectorAll(".turn[id]").forEach(function (el) {
      if (seen[el.id] && seen[el.id] !== el) seen[el.id].replaceWith(el);
      seen[el.id] = el;
    });
  }

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
    // The form was submitted: remember the message until it is acknowledged. While the socket is
    // closed it is only remembered (htmx would queue a second copy), and sent when the socket opens.
    form.addEventListener("htmx:wsConfigSend", function (ev) {
      var params = ev.detail.parameters;
      var message = String(params.message || "").trim();
      if (!message) return;
      var body = JSON.stringify({ message: message, client_id: params.client_id });
      ev.detail.messageBody = body;
      unacked.push({ id: params.client_id, message: message, body: body });
      box.value = ""; preview.textContent = ""; idField.value = newId();
      if (!open) {
        ev.preventDefault();
        conn.textContent = "Not connected — your message will be sent when the connection is back.";
      }
    });
  }
  document.body.addEventListener("htmx:wsAfterSend", function () {
    conn.textContent = "The tutor is thinking…";
  });
  document.body.addEventListener("htmx:wsOpen", function (ev) {
    open = true;
    conn.textContent = "Connected.";
    var socket = ev.detail.socketWrapper;
    unacked.forEach(function (m) { socket.send(m.body); });
    if (unacked.length) conn.textContent = "The tutor is thinking…";
  });
  document.body.addEventListener("htmx:wsClose", function () {
    open = false;
    conn.textContent = unacked.length
      ? "Connection lost — reconnecting… Your message will be sent again when the connection is back."
      : "Connection lost — reconnecting…";
  });
  document.body.addEventListener("htmx:wsAfterMessage", function () {
    settle();
    var pending = document.querySelector(".turn-tutor.pending");
    conn.textContent = pending ? "The tutor is replying…" : (unacked.length ? "The tutor is thinking…" : "Connected.");
    transcript.scrollTop = transcript.scrollHeight;
    if (window.renderMath) window.renderMath(transcript);
  });
})();
