// Chat page behaviour around the htmx websocket: message ids, re-sending what the server has not
// acknowledged, the typing indicator and the Send button while a reply is pending, the hint and stuck
// buttons, a live math preview, the connection state and keeping the latest message in view.
//
// Every message carries a client id. It stays in `unacked` until the server's reply to it arrives:
// the student's bubble (data-client-id) or a notice that refused it (data-refused). A message sent
// just before the connection died is re-sent, with the same id, when the socket opens again; the
// server stores a message once per id, so a message that did arrive is not stored twice.
//
// A reply is pending from Send until the tutor's final reply replaces the streaming bubble (or a
// notice says it failed). Meanwhile Send is disabled, and until the reply's first words arrive the
// typing indicator shows. While the socket is closed nothing is pending: a message sent then waits
// in `unacked`, and the status line says how many wait.
(function () {
  var form = document.getElementById("chat-form");
  var box = document.getElementById("message");
  var idField = document.getElementById("client_id");
  var preview = document.getElementById("preview");
  var conn = document.getElementById("conn");
  var notice = document.getElementById("notice");
  var transcript = document.getElementById("transcript");
  var typing = document.getElementById("typing");
  var typingText = typing.querySelector(".typing-text");
  // The scrolling element: the shared area on a phone, the conversation column on a wide screen.
  var scrollers = [document.getElementById("chat-scroll"), document.getElementById("conversation")];
  var submitters = form ? form.querySelectorAll("button[type=submit]") : [];
  var unacked = [];  // [{id, message, body}] in the order sent
  var open = false, everOpen = false;
  var followLatest = true;  // the student has not scrolled up, away from the latest message
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

  function waiting() {
    // A notice after the last bubble (an error) ends the wait: the student may send again.
    var pending = transcript.querySelector(".turn-tutor.pending");
    var failed = notice && notice.textContent.trim() !== "";
    return open && (unacked.length > 0 || (pending !== null && !failed));
  }
  function firstWordsShown() {
    var pending = transcript.querySelector(".turn-tutor.pending");
    return pending !== null && pending.querySelector(".text").textContent.trim() !== "";
  }
  function status() {
    var wait = waiting();
    var writing = wait && !firstWordsShown();
    typing.classList.toggle("active", writing);
    say(typingText, writing ? "Tutor is writing…" : "");
    submitters.forEach(function (b) { b.disabled = wait; });
    var n = unacked.length;
    say(conn, open ? "Connected." : (everOpen ? "Connection lost — reconnecting…" : "Connecting…") + (n
      ? " " + (n === 1 ? "Your message is" : n + " messages are") + " waiting and will be sent when the connection is back."
      : ""));
  }
  // Live regions are announced when their text changes: write only a change.
  function say(el, text) { if (el.textContent !== text) el.textContent = text; }
  function scrollToLatest(force) {
    if (!force && !followLatest) return;
    scrollers.forEach(function (el) { if (el) el.scrollTop = el.scrollHeight; });
  }
  scrollers.forEach(function (el) {
    if (!el) return;
    el.addEventListener("scroll", function () {
      if (el.scrollHeight <= el.clientHeight) return;  // not the scrolling one at this width
      followLatest = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    }, { passive: true });
    // The preview or a notice appearing shrinks the area: keep the latest message in view.
    if (window.ResizeObserver) new ResizeObserver(function () { scrollToLatest(false); }).observe(el);
  });

  if (form) {
    form.querySelectorAll("button[data-say]").forEach(function (b) {
      b.addEventListener("click", function () { if (!b.disabled) box.value = b.getAttribute("data-say"); });
    });
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) {
        ev.preventDefault();
        if (!waiting()) form.requestSubmit();
      }
    });
    box.addEventListener("input", function () { mathPreview(box.value); });
    // The form was submitted: remember the message until it is acknowledged. While the socket is
    // closed it is only remembered (htmx would queue a second copy), and sent when the socket opens.
    form.addEventListener("htmx:wsConfigSend", function (ev) {
      var params = ev.detail.parameters;
      var message = String(params.message || "").trim();
      if (!message || waiting()) { ev.preventDefault(); return; }
      var body = JSON.stringify({ message: message, client_id: params.client_id });
      ev.detail.messageBody = body;
      unacked.push({ id: params.client_id, message: message, body: body });
      box.value = ""; preview.textContent = ""; idField.value = newId();
      if (notice) notice.textContent = "";
      if (!open) ev.preventDefault();
      status();
      scrollToLatest(true);
    });
  }

  // The preview renders into its element (katex.render builds DOM nodes and sets styles through the
  // CSSOM, which the Content-Security-Policy allows). TeX that does not parse yet, as it does while
  // being typed, is shown as text: KaTeX's own error markup carries an inline style attribute, which
  // the policy refuses.
  function mathPreview(v) {
    if (!preview) return;
    if (!window.katex || !/[\\^_]|\d\/\d/.test(v)) { preview.textContent = ""; return; }
    try {
      window.katex.render(v.replace(/(\d+)\/(\d+)/g, "\\frac{$1}{$2}"), preview, { throwOnError: true });
    } catch (e) {
      preview.textContent = "";
      var span = document.createElement("span");
      span.className = "math-error";
      span.textContent = "Preview: the maths is not complete yet.";
      preview.appendChild(span);
    }
  }

  document.body.addEventListener("htmx:wsOpen", function (ev) {
    open = true; everOpen = true;
    var socket = ev.detail.socketWrapper;
    unacked.forEach(function (m) { socket.send(m.body); });
    status();
  });
  document.body.addEventListener("htmx:wsClose", function () {
    open = false;
    status();
  });
  document.body.addEventListener("htmx:wsAfterMessage", function () {
    settle();
    status();
    if (window.renderMath) window.renderMath(transcript);
    scrollToLatest(false);
  });
  scrollToLatest(true);
})();
