/*! Larkspur support chat widget. One tag on any page:
 *    <script src="https://support.example.com/static/widget.js" defer data-lang="en"></script>
 * Self-contained and dependency-free; see docs/web-widget.md for the options and the protocol.
 * Every piece of message text enters the page as a text node (textContent), never as HTML.
 */
(function () {
  "use strict";
  if (window.Larkspur && window.Larkspur.version) return; // loaded twice: keep the first

  var VERSION = "1";
  var LANGS = ["en", "fa", "ar"];
  var RTL = { fa: true, ar: true };
  var FONT = '"Noto Sans", "Noto Sans Arabic", "Noto Naskh Arabic", "DejaVu Sans", Tahoma, system-ui, sans-serif';
  var DEFAULT_COLOR = "#5b3cc4";
  var PING_MS = 25000;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var FALLBACK_AFTER_FAILURES = 3;
  var MAX_SEND_TRIES = 3;   // a message whose socket closes this often before its ack is shown as not sent
  var MAX_CHARS = 4000;

  var UI = {
    en: {
      title: "Support chat", open: "Open support chat", close: "Close chat", language: "Language",
      placeholder: "Ask a question…", label: "Your message", send: "Send", log: "Messages",
      telegram: "Continue on Telegram", telegramLink: "Open the conversation in Telegram",
      telegramFailed: "Telegram is not available right now.",
      typing: "Typing…", reconnecting: "Connection lost. Reconnecting…", offline: "You are offline. Messages will be sent when you are back online.",
      down: "The assistant is unavailable right now. Your message is saved; please try again shortly.",
      failed: "Could not send your message. Please try again.", sending: "Sending…", notSent: "Not sent",
      slow: "You are sending messages a little fast. Your message is kept and will be sent automatically in a moment.",
      identity: "We could not verify your account, so the chat is not available. Please reload the page or sign in again.",
      badLink: "That Telegram link has expired or was already used.",
      unread: function (n) { return n === 1 ? "1 unread message" : n + " unread messages"; },
      you: "You", bot: "Assistant", agent: "Support agent", system: "Notice", viaTelegram: "via Telegram",
    },
    fa: {
      title: "گفتگو با پشتیبانی", open: "باز کردن گفتگوی پشتیبانی", close: "بستن گفتگو", language: "زبان",
      placeholder: "سؤال خود را بپرسید…", label: "پیام شما", send: "ارسال", log: "پیام‌ها",
      telegram: "ادامه در تلگرام", telegramLink: "باز کردن گفتگو در تلگرام",
      telegramFailed: "تلگرام در حال حاضر در دسترس نیست.",
      typing: "در حال نوشتن…", reconnecting: "اتصال قطع شد. در حال اتصال دوباره…", offline: "شما آفلاین هستید. پیام‌ها پس از اتصال دوباره فرستاده می‌شوند.",
      down: "دستیار در حال حاضر در دسترس نیست. پیام شما ذخیره شد؛ لطفاً کمی بعد دوباره تلاش کنید.",
      failed: "ارسال پیام ممکن نشد. لطفاً دوباره تلاش کنید.", sending: "در حال ارسال…", notSent: "ارسال نشد",
      slow: "پیام‌ها را کمی سریع می‌فرستید. پیام شما نگه داشته شده و تا لحظاتی دیگر خودکار فرستاده می‌شود.",
      identity: "حساب شما تأیید نشد، بنابراین گفتگو در دسترس نیست. لطفاً صفحه را دوباره بارگذاری کنید یا دوباره وارد شوید.",
      badLink: "این پیوند تلگرام منقضی شده یا قبلاً استفاده شده است.",
      unread: function (n) { return n.toLocaleString("fa") + " پیام خوانده‌نشده"; },
      you: "شما", bot: "دستیار", agent: "پشتیبان", system: "اطلاعیه", viaTelegram: "از تلگرام",
    },
    ar: {
      title: "محادثة الدعم", open: "فتح محادثة الدعم", close: "إغلاق المحادثة", language: "اللغة",
      placeholder: "اطرح سؤالك…", label: "رسالتك", send: "إرسال", log: "الرسائل",
      telegram: "المتابعة على تيليغرام", telegramLink: "افتح المحادثة في تيليغرام",
      telegramFailed: "تيليغرام غير متاح حاليًا.",
      typing: "يكتب…", reconnecting: "انقطع الاتصال. جارٍ إعادة الاتصال…", offline: "أنت غير متصل. ستُرسل الرسائل عند عودة الاتصال.",
      down: "المساعد غير متاح حاليًا. تم حفظ رسالتك؛ يرجى المحاولة بعد قليل.",
      failed: "تعذّر إرسال رسالتك. يرجى المحاولة مرة أخرى.", sending: "جارٍ الإرسال…", notSent: "لم تُرسل",
      slow: "أنت ترسل الرسائل بسرعة قليلًا. رسالتك محفوظة وستُرسل تلقائيًا بعد لحظات.",
      identity: "تعذّر التحقق من حسابك، لذا المحادثة غير متاحة. يرجى إعادة تحميل الصفحة أو تسجيل الدخول مجددًا.",
      badLink: "رابط تيليغرام هذا منتهي الصلاحية أو استُخدم من قبل.",
      unread: function (n) { return n === 1 ? "رسالة واحدة غير مقروءة" : n.toLocaleString("ar") + " رسائل غير مقروءة"; },
      you: "أنت", bot: "المساعد", agent: "موظف الدعم", system: "تنبيه", viaTelegram: "عبر تيليغرام",
    },
  };
  var LANG_NAMES = { en: "English", fa: "فارسی", ar: "العربية" };

  // -- where the service is, and the options ----------------------------------------
  var script = document.currentScript;
  if (!script) {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(all[i].src)) { script = all[i]; break; }
    }
  }
  var ORIGIN = new URL(script && script.src ? script.src : location.href, location.href).origin;
  var WS_URL = ORIGIN.replace(/^http/, "ws") + "/ws/chat";

  function readOptions() {
    var d = (script && script.dataset) || {};
    var o = {
      lang: d.lang, color: d.color, position: d.position, title: d.title,
      open: d.open === undefined ? undefined : d.open === "true" || d.open === "",
      user: d.userId ? { id: d.userId, signature: d.userSignature || "", name: d.userName || null } : null,
    };
    var w = window.LarkspurWidget;
    if (w && typeof w === "object") {
      ["lang", "color", "position", "title", "open"].forEach(function (k) { if (w[k] !== undefined && w[k] !== null) o[k] = w[k]; });
      if (w.user && typeof w.user === "object") o.user = { id: w.user.id == null ? null : String(w.user.id), signature: w.user.signature || null, name: w.user.name || null };
    }
    if (typeof o.open === "string") o.open = o.open === "true";
    o.position = o.position === "left" ? "left" : "right";
    o.color = o.color && window.CSS && CSS.supports && CSS.supports("color", o.color) ? o.color : DEFAULT_COLOR;
    return o;
  }
  var options = readOptions();

  // -- storage (localStorage can be blocked; then the widget works for this page only) --
  var memory = {};
  var store = {
    get: function (k) { try { return window.localStorage.getItem(k); } catch (e) { return k in memory ? memory[k] : null; } },
    set: function (k, v) { try { window.localStorage.setItem(k, v); } catch (e) { memory[k] = v; } },
    remove: function (k) { try { window.localStorage.removeItem(k); } catch (e) { delete memory[k]; } },
  };

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    var bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var j = 0; j < 16; j++) bytes[j] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function sessionToken() {
    var t = store.get("larkspur.session");
    if (!t || !/^[A-Za-z0-9_-]{8,200}$/.test(t)) {
      t = randomId();
      store.set("larkspur.session", t);
    }
    return t;
  }
  var session = sessionToken();

  function pickLang(candidate) {
    candidate = String(candidate || "").toLowerCase().slice(0, 2);
    return LANGS.indexOf(candidate) >= 0 ? candidate : null;
  }
  var lang = pickLang(store.get("larkspur.lang")) || pickLang(options.lang) || pickLang(navigator.language) || "en";

  function loadOutbox() {
    try {
      var list = JSON.parse(store.get("larkspur.outbox") || "[]");
      return Array.isArray(list) ? list.filter(function (m) { return m && typeof m.client_message_id === "string" && typeof m.text === "string"; }) : [];
    } catch (e) { return []; }
  }
  var outbox = loadOutbox();
  function saveOutbox() {
    if (outbox.length) store.set("larkspur.outbox", JSON.stringify(outbox));
    else store.remove("larkspur.outbox");
  }
  function dropFromOutbox(cmid) {
    var before = outbox.length;
    outbox = outbox.filter(function (m) { return m.client_message_id !== cmid; });
    if (outbox.length !== before) saveOutbox();
  }

  // The link code from Telegram's /web: the page was opened as ...?larkspur_link=CODE
  var linkCode = null;
  try { linkCode = new URL(location.href).searchParams.get("larkspur_link"); } catch (e) { linkCode = null; }
  function forgetLinkParam() {
    try {
      var url = new URL(location.href);
      if (!url.searchParams.has("larkspur_link")) return;
      url.searchParams.delete("larkspur_link");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    } catch (e) { /* nothing to tidy */ }
  }

  // -- styles ---------------------------------------------------------------------------
  var CSS_TEXT = [
    ":host { all: initial !important; display: block !important; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    ".w { --accent: " + DEFAULT_COLOR + "; --ink: #1d1b26; --muted: #5f5a70; --bg: #f4f2fa; --line: #e3e0ef; --focus: #1a73e8;",
    "  font-family: " + FONT + "; font-size: 15px; line-height: 1.45; color: var(--ink); }",
    ".vh { position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    "button, input, select { font: inherit; color: inherit; }",
    "button { cursor: pointer; }",
    "button:disabled { cursor: default; }",
    ":focus { outline: none; }",
    ":focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }",
    ".launcher { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; width: 58px; height: 58px; border-radius: 50%;",
    "  border: 0; background: var(--accent); color: #fff; box-shadow: 0 4px 16px rgba(0,0,0,.25); display: flex; align-items: center; justify-content: center; padding: 0; }",
    ".pos-left .launcher { right: auto; left: 20px; }",
    ".launcher svg { width: 28px; height: 28px; fill: currentColor; }",
    ".launcher:focus-visible { outline: 3px solid var(--focus); outline-offset: 3px; }",
    ".badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px; border-radius: 11px;",
    "  background: #c5221f; color: #fff; font-size: 12px; font-weight: 700; line-height: 22px; text-align: center; border: 2px solid #fff; }",
    ".panel { position: fixed; bottom: 90px; right: 20px; z-index: 2147483001; width: 380px; max-width: calc(100vw - 40px);",
    "  height: 600px; max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: #fff; color: var(--ink);",
    "  border-radius: 14px; box-shadow: 0 8px 32px rgba(0,0,0,.22); overflow: hidden; text-align: start; }",
    ".pos-left .panel { right: auto; left: 20px; }",
    "@media (max-width: 480px) { .panel, .pos-left .panel { top: 0; right: 0; bottom: 0; left: 0; width: 100%; max-width: none; height: 100%; max-height: none; border-radius: 0; } }",
    ".head { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: var(--accent); color: #fff; }",
    ".head h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 700; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    ".head select { background: rgba(255,255,255,.15); color: #fff; border: 1px solid rgba(255,255,255,.5); border-radius: 6px; padding: 3px 4px; font-size: 13px; }",
    ".head select option { color: #1d1b26; background: #fff; }",
    ".head .x { background: transparent; border: 0; color: #fff; width: 34px; height: 34px; border-radius: 8px; font-size: 22px; line-height: 1; padding: 0; }",
    ".head .x:hover, .head .x:focus-visible { background: rgba(255,255,255,.18); }",
    ".head :focus-visible { outline-color: #fff; }",
    ".bar { display: flex; flex-wrap: wrap; gap: 6px; padding: 6px 12px; border-bottom: 1px solid var(--line); }",
    ".tg { border: 1px solid #229ed9; color: #0b6fa4; background: #fff; border-radius: 999px; padding: 3px 12px; font-size: 13px; }",
    ".tg:hover { background: #eaf6fc; }",
    ".notice { margin: 0; padding: 6px 12px; font-size: 13px; background: #fff8e1; color: #5c4400; border-bottom: 1px solid #f3e2a6; }",
    ".notice.bad { background: #fdecea; color: #8a1c13; border-color: #f5c6c1; }",
    ".notice a { color: inherit; font-weight: 600; }",
    ".log { list-style: none; margin: 0; padding: 12px; overflow-y: auto; flex: 1; display: flex; flex-direction: column; gap: 8px; background: var(--bg); }",
    ".msg { max-width: 85%; padding: 8px 11px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid var(--line); align-self: flex-start; }",
    ".msg.customer { align-self: flex-end; background: var(--accent); color: #fff; border-color: transparent; }",
    ".msg.customer a { color: #fff; }",
    ".msg.system { align-self: center; background: transparent; border: 1px dashed var(--line); color: var(--muted); font-size: 13px; }",
    ".msg.pending { opacity: .75; }",
    ".msg.failed { outline: 2px solid #c5221f; outline-offset: 1px; }",
    ".msg a { color: #3a22a0; }",
    ".msg .author { display: block; font-size: 12px; font-weight: 700; color: var(--muted); margin-bottom: 2px; white-space: normal; }",
    ".msg .meta { display: block; font-size: 11px; opacity: .7; margin-top: 3px; white-space: normal; }",
    ".msg .state, .msg .via { margin-inline-start: 6px; }",
    ".buttons { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; white-space: normal; }",
    ".buttons button { border: 1px solid var(--accent); color: var(--accent); background: #fff; border-radius: 999px; padding: 4px 12px; }",
    ".buttons button:hover:not(:disabled) { background: var(--bg); }",
    ".buttons button:disabled { opacity: .55; }",
    ".buttons button[aria-pressed=true] { background: var(--accent); color: #fff; opacity: .8; }",
    ".typing { padding: 4px 14px; font-size: 12px; color: var(--muted); background: var(--bg); }",
    ".typing .dots { display: inline-block; margin-inline-end: 6px; }",
    ".typing .dots i { display: inline-block; width: 6px; height: 6px; margin: 0 2px; border-radius: 50%; background: #8a84a0; animation: lw-blink 1s infinite; }",
    ".typing .dots i:nth-child(2) { animation-delay: .2s; } .typing .dots i:nth-child(3) { animation-delay: .4s; }",
    "@keyframes lw-blink { 50% { opacity: .2; } }",
    "@media (prefers-reduced-motion: reduce) { .typing .dots i { animation: none; } }",
    ".error { margin: 0; padding: 4px 12px; color: #b00020; font-size: 13px; }",
    ".composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--line); background: #fff; }",
    ".composer input { flex: 1; min-width: 0; padding: 9px 10px; border: 1px solid #bdb8cc; border-radius: 8px; background: #fff; color: var(--ink); }",
    ".composer input:focus-visible { outline: 2px solid var(--focus); outline-offset: 0; border-color: var(--focus); }",
    ".composer .send { background: var(--accent); color: #fff; border: 0; border-radius: 8px; padding: 0 16px; font-weight: 600; }",
    ".composer .send:disabled, .composer input:disabled { opacity: .6; }",
  ].join("\n");

  // -- the DOM --------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // A constructed stylesheet rather than a <style> element: a page whose Content-Security-Policy
  // forbids inline styles (our own pages, and many hosts') would block the element, not the sheet.
  function adoptStyles(shadow) {
    try {
      if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS_TEXT);
        shadow.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (e) { /* an older browser: the element below */ }
    shadow.appendChild(el("style", { text: CSS_TEXT }));
  }

  var uid = "lw" + Math.random().toString(36).slice(2, 8);
  var host, root, wrap, launcher, badge, panel, titleEl, langSelect, langLabel, closeBtn, bar, tgBtn,
    notice, log, typingEl, typingText, errorEl, form, input, inputLabel, sendBtn;

  function build() {
    host = document.getElementById("larkspur-widget");
    if (!host) {
      host = document.createElement("div");
      host.id = "larkspur-widget";
      document.body.appendChild(host);
    }
    root = host.shadowRoot || host.attachShadow({ mode: "open" });
    while (root.firstChild) root.removeChild(root.firstChild);
    adoptStyles(root);

    wrap = el("div", { className: "w pos-" + options.position });
    wrap.style.setProperty("--accent", options.color);

    launcher = el("button", { type: "button", className: "launcher", "aria-expanded": "false", "aria-controls": uid + "-panel" });
    var svgNS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(svgNS, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4.5 4V18H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z");
    svg.appendChild(path);
    badge = el("span", { className: "badge", "aria-hidden": "true" });
    badge.hidden = true;
    launcher.appendChild(svg);
    launcher.appendChild(badge);

    titleEl = el("h2", { id: uid + "-title" });
    langLabel = el("label", { className: "vh", "for": uid + "-lang" });
    langSelect = el("select", { id: uid + "-lang", className: "lang" });
    LANGS.forEach(function (code) { langSelect.appendChild(el("option", { value: code, lang: code, text: LANG_NAMES[code] })); });
    closeBtn = el("button", { type: "button", className: "x" }, [el("span", { "aria-hidden": "true", text: "×" })]);
    var head = el("div", { className: "head" }, [titleEl, langLabel, langSelect, closeBtn]);

    tgBtn = el("button", { type: "button", className: "tg" });
    bar = el("div", { className: "bar" }, [tgBtn]);
    bar.hidden = true;

    notice = el("p", { className: "notice", role: "status" });
    notice.hidden = true;

    log = el("ol", { className: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions" });

    typingText = el("span", {});
    typingEl = el("div", { className: "typing" }, [
      el("span", { className: "dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]), typingText,
    ]);
    typingEl.hidden = true;

    errorEl = el("p", { className: "error", role: "alert" });
    errorEl.hidden = true;

    inputLabel = el("label", { className: "vh", "for": uid + "-text" });
    input = el("input", { id: uid + "-text", className: "text", type: "text", name: "text", autocomplete: "off", maxlength: String(MAX_CHARS), enterkeyhint: "send" });
    sendBtn = el("button", { type: "submit", className: "send" });
    form = el("form", { className: "composer", novalidate: "" }, [inputLabel, input, sendBtn]);

    panel = el("section", { id: uid + "-panel", className: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": uid + "-title" },
      [head, bar, notice, log, typingEl, errorEl, form]);
    panel.hidden = true;

    wrap.appendChild(panel);
    wrap.appendChild(launcher);
    root.appendChild(wrap);

    launcher.addEventListener("click", function () { toggle(); });
    closeBtn.addEventListener("click", function () { close(true); });
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" || ev.key === "Esc") { ev.preventDefault(); ev.stopPropagation(); close(true); }
    });
    langSelect.addEventListener("change", function () { setLanguage(langSelect.value); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text || stopped) return;
      input.value = "";
      send(text, null);
    });
    tgBtn.addEventListener("click", continueOnTelegram);
    window.addEventListener("online", function () { hideNotice("offline"); if (!ws && !stopped) connectSoon(0); });
    window.addEventListener("offline", function () { showNotice("offline", S().offline, false); });
  }

  function S() { return UI[lang]; }

  function applyLanguage() {
    var s = S();
    var dir = RTL[lang] ? "rtl" : "ltr";
    panel.setAttribute("dir", dir);
    panel.setAttribute("lang", lang);
    launcher.setAttribute("lang", lang);
    titleEl.textContent = options.title || s.title;
    panel.setAttribute("aria-label", titleEl.textContent);
    langLabel.textContent = s.language;
    langSelect.value = lang;
    langSelect.setAttribute("aria-label", s.language);
    closeBtn.setAttribute("aria-label", s.close);
    closeBtn.title = s.close;
    tgBtn.textContent = s.telegram;
    log.setAttribute("aria-label", s.log);
    typingText.textContent = s.typing;
    inputLabel.textContent = s.label;
    input.placeholder = s.placeholder;
    sendBtn.textContent = s.send;
    var vias = log.querySelectorAll(".msg .via");
    for (var v = 0; v < vias.length; v++) vias[v].textContent = s.viaTelegram;
    var states = log.querySelectorAll(".msg .state");
    for (var k = 0; k < states.length; k++) {
      var m = states[k].closest(".msg");
      states[k].textContent = m.classList.contains("failed") ? s.notSent : s.sending;
    }
    if (currentNotice) showNotice(currentNotice.key, currentNotice.textKey ? s[currentNotice.textKey] : currentNotice.text, currentNotice.bad, currentNotice.textKey);
    updateBadge();
  }

  // -- notices --------------------------------------------------------------------------
  var currentNotice = null;
  function showNotice(key, text, bad, textKey, link) {
    currentNotice = { key: key, text: text, bad: !!bad, textKey: textKey || null };
    notice.textContent = text;
    if (link) {
      notice.appendChild(document.createTextNode(" "));
      notice.appendChild(el("a", { href: link.href, target: "_blank", rel: "noopener noreferrer", text: link.text }));
    }
    notice.classList.toggle("bad", !!bad);
    notice.hidden = false;
  }
  function hideNotice(key) {
    if (currentNotice && (!key || currentNotice.key === key)) {
      currentNotice = null;
      notice.hidden = true;
      notice.textContent = "";
    }
  }
  function showError(text) { errorEl.textContent = text; errorEl.hidden = false; }
  function clearError() { errorEl.hidden = true; errorEl.textContent = ""; }

  // -- open / close / unread --------------------------------------------------------------
  var isOpen = false;
  var unread = 0;
  function updateBadge() {
    var s = S();
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.hidden = unread === 0;
    launcher.setAttribute("aria-label", unread ? s.open + " (" + s.unread(unread) + ")" : s.open);
    launcher.title = unread ? s.unread(unread) : s.open;
  }
  function open(focus) {
    if (!panel) return;
    isOpen = true;
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    store.set("larkspur.open", "1");
    unread = 0;
    updateBadge();
    scrollToEnd();
    if (focus !== false) { try { input.focus({ preventScroll: true }); } catch (e) { input.focus(); } }
  }
  function close(returnFocus) {
    if (!panel) return;
    isOpen = false;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    store.set("larkspur.open", "0");
    if (returnFocus !== false) launcher.focus();
  }
  function toggle() { if (isOpen) close(true); else open(true); }

  function setLanguage(code) {
    var next = pickLang(code);
    if (!next) return;
    var changed = next !== lang;
    lang = next;
    store.set("larkspur.lang", lang);
    if (panel) applyLanguage();
    // The language travels in hello: a fresh socket tells the server about the new one.
    if (changed && ws && ws.readyState === WebSocket.OPEN) { silentReconnect = true; ws.close(1000, "language"); }
  }

  // -- rendering messages ---------------------------------------------------------------------
  var byId = {};        // server message id -> element
  var byClient = {};    // client_message_id -> element
  var lastId = 0;       // the largest message id rendered
  var restDirty = false; // replies rendered from POST /api/chat carry no ids

  function parseTime(value) {
    if (!value) return new Date();
    var s = String(value);
    if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(s)) s += "Z"; // a naive timestamp is UTC
    var d = new Date(s);
    return isNaN(d.getTime()) ? new Date() : d;
  }

  // **bold** becomes <strong>, bare http(s) URLs become links; everything is a text node.
  var URL_RE = /(https?:\/\/[^\s<>"'`]+)/g;
  function appendLinks(node, text) {
    text.split(URL_RE).forEach(function (part, idx) {
      if (!part) return;
      if (idx % 2 === 0) { node.appendChild(document.createTextNode(part)); return; }
      var trail = "";
      var m = /[.,;:!?)\]}'"»،؛]+$/.exec(part);
      if (m && !(m[0].charAt(0) === ")" && part.indexOf("(") >= 0)) { trail = m[0]; part = part.slice(0, -trail.length); }
      node.appendChild(el("a", { href: part, target: "_blank", rel: "noopener noreferrer", text: part }));
      if (trail) node.appendChild(document.createTextNode(trail));
    });
  }
  function fillText(node, text) {
    String(text == null ? "" : text).split(/\*\*([^*\n][^\n]*?)\*\*/g).forEach(function (part, idx) {
      if (!part) return;
      if (idx % 2 === 1) { var b = document.createElement("strong"); appendLinks(b, part); node.appendChild(b); }
      else appendLinks(node, part);
    });
  }

  function setMeta(li, when) {
    var time = li.querySelector("time");
    var d = parseTime(when);
    time.setAttribute("datetime", d.toISOString());
    time.textContent = d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
    time.title = d.toLocaleString(lang);
  }

  function setPending(li, state) { // state: "pending" | "failed" | null
    li.classList.toggle("pending", state === "pending");
    li.classList.toggle("failed", state === "failed");
    var st = li.querySelector(".state");
    if (!state) { if (st) st.remove(); return; }
    if (!st) { st = el("span", { className: "state" }); li.querySelector(".meta").appendChild(st); }
    st.textContent = state === "failed" ? S().notSent : S().sending;
  }

  // Keep the log in server order: messages with an id by id, those without (still
  // pending, or REST replies) after them in the order they came.
  function place(li) {
    var id = Number(li.dataset.id || 0);
    if (li.parentNode === log) log.removeChild(li);
    if (id) {
      var kids = log.children;
      for (var k = 0; k < kids.length; k++) {
        var other = Number(kids[k].dataset.id || 0);
        if (!other || other > id) { log.insertBefore(li, kids[k]); return; }
      }
    }
    log.appendChild(li);
  }

  function scrollToEnd() { if (log) log.scrollTop = log.scrollHeight; }

  function answeredButtons(li) {
    var btns = li.querySelectorAll(".buttons button");
    for (var k = 0; k < btns.length; k++) btns[k].disabled = true;
  }

  function renderMessage(m, fromHistory) {
    var sender = ["customer", "bot", "agent", "system"].indexOf(m.sender) >= 0 ? m.sender : "system";
    var id = Number(m.id) || 0;
    if (id && byId[id]) return byId[id];
    var cmid = m.client_message_id || null;
    var li = cmid && sender === "customer" ? byClient[cmid] : null;
    if (li) { // our own optimistic bubble, now confirmed by the server
      if (id) { li.dataset.id = String(id); byId[id] = li; lastId = Math.max(lastId, id); }
      setPending(li, null);
      if (m.created_at) setMeta(li, m.created_at);
      dropFromOutbox(cmid);
      place(li);
      return li;
    }
    if (cmid && sender === "customer" && !m.pending) dropFromOutbox(cmid); // stored already (sent before a reload)
    li = el("li", { className: "msg " + sender });
    if (id) li.dataset.id = String(id);
    if (cmid) li.dataset.client = cmid;
    if (sender === "agent" && m.author) li.appendChild(el("span", { className: "author", dir: "auto", text: String(m.author) }));
    var body = el("span", { className: "text", dir: "auto" });
    fillText(body, m.text);
    li.appendChild(body);
    if ((sender === "bot" || sender === "agent") && Array.isArray(m.buttons) && m.buttons.length) {
      var group = el("div", { className: "buttons", role: "group" });
      m.buttons.forEach(function (b) {
        if (!b || !b.title) return;
        var btn = el("button", { type: "button", dir: "auto", text: String(b.title) });
        btn.addEventListener("click", function () {
          if (btn.disabled || stopped) return;
          answeredButtons(li);
          btn.setAttribute("aria-pressed", "true");
          send(String(b.title), b.payload == null ? null : String(b.payload));
          input.focus();
        });
        group.appendChild(btn);
      });
      li.appendChild(group);
    }
    var who = S()[sender === "customer" ? "you" : sender];
    if (!(sender === "agent" && m.author)) li.insertBefore(el("span", { className: "vh who", text: who + ": " }), li.firstChild);
    var meta = el("span", { className: "meta" }, [el("time")]);
    if (m.channel === "telegram") meta.appendChild(el("span", { className: "via", text: S().viaTelegram }));
    li.appendChild(meta);
    setMeta(li, m.created_at);

    if (id) { byId[id] = li; lastId = Math.max(lastId, id); }
    if (cmid) byClient[cmid] = li;
    if (!id && !m.pending) li.dataset.rest = "1";
    if (m.pending) setPending(li, "pending");
    place(li);
    // A customer's reply answers the quick replies above it (also after a reload).
    if (sender === "customer") {
      var prev = log.querySelectorAll(".msg .buttons");
      for (var k = 0; k < prev.length; k++) {
        var owner = prev[k].closest(".msg");
        if (owner.compareDocumentPosition(li) & Node.DOCUMENT_POSITION_FOLLOWING) answeredButtons(owner);
      }
    }
    if (sender === "bot" || sender === "agent") setTyping(false);
    if (sender !== "customer" && !fromHistory && !isOpen) { unread += 1; updateBadge(); }
    scrollToEnd();
    return li;
  }

  var typingTimer = null;
  function setTyping(on) {
    typingEl.hidden = !on;
    clearTimeout(typingTimer);
    if (on) { typingTimer = setTimeout(function () { typingEl.hidden = true; }, 60000); scrollToEnd(); }
  }

  // -- sending ------------------------------------------------------------------------------
  // Text the server can store: at most MAX_CHARS without cutting a character in two, and a lone
  // UTF-16 half (a pasted fragment) as U+FFFD; the server refuses a lone half as invalid_message.
  function storableText(text) {
    var end = Math.min(text.length, MAX_CHARS);
    if (end < text.length && (text.charCodeAt(end - 1) & 0xFC00) === 0xD800) end -= 1;
    text = text.slice(0, end);
    if (typeof text.toWellFormed === "function") return text.toWellFormed();
    var out = "";
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      var pair = (c & 0xFC00) === 0xD800 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xFC00) === 0xDC00;
      if (pair) { out += text.slice(i, i + 2); i += 1; } else out += (c & 0xF800) === 0xD800 ? "\uFFFD" : text.charAt(i);
    }
    return out;
  }

  function send(text, payload) {
    clearError();
    text = storableText(String(text));
    var item = { client_message_id: randomId(), text: text, payload: payload, created_at: new Date().toISOString() };
    outbox.push(item);
    saveOutbox();
    renderMessage({ sender: "customer", text: text, client_message_id: item.client_message_id, created_at: item.created_at, pending: true });
    flush();
  }

  function showOutboxBubbles() {
    outbox.forEach(function (item) {
      if (!byClient[item.client_message_id]) {
        renderMessage({ sender: "customer", text: item.text, client_message_id: item.client_message_id, created_at: item.created_at, pending: true });
      }
    });
  }

  // Over a rate limit: the server did not store the message and said when to send it again.
  // It stays in the outbox (its bubble pending) and nothing is sent before then: no resend loop.
  var holdUntil = 0;
  var holdTimer = null;
  function holdSending(seconds) {
    var wait = Math.min(24 * 3600, Math.max(1, Number(seconds) || 5)) * 1000;
    holdUntil = Math.max(holdUntil, Date.now() + wait);
    clearTimeout(holdTimer);
    holdTimer = setTimeout(function () { holdTimer = null; flush(); }, holdUntil - Date.now());
    showNotice("slow", S().slow, false, "slow");
  }

  function flush() {
    if (stopped || Date.now() < holdUntil) return;
    if (ws && ready && ws.readyState === WebSocket.OPEN) {
      outbox.forEach(function (item) {
        if (inflight[item.client_message_id]) return;
        inflight[item.client_message_id] = true;
        ws.send(JSON.stringify({ type: "message", client_message_id: item.client_message_id, text: item.text, payload: item.payload == null ? null : item.payload }));
      });
    } else if (restMode) {
      restFlush();
    }
  }

  // -- the WebSocket --------------------------------------------------------------------------
  var ws = null;
  var ready = false;        // this socket got its `ready`
  var everConnected = false;
  var failures = 0;         // attempts in a row that ended without a `ready`
  var retryTimer = null;
  var pingTimer = null;
  var awaitingPong = false;
  var inflight = {};
  var stopped = false;      // invalid identity: nothing more is sent
  var restMode = false;
  var silentReconnect = false;

  function connectSoon(delay) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function backoff() {
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, Math.max(0, failures - 1)));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  function connect() {
    clearTimeout(retryTimer);
    if (stopped || (ws && ws.readyState <= WebSocket.OPEN)) return;
    var sock;
    try { sock = new WebSocket(WS_URL); } catch (e) { onSocketGone(null, {}); return; }
    ws = sock;
    ready = false;
    inflight = {};
    sock.onopen = function () {
      if (ws !== sock) return;
      sock.send(JSON.stringify({
        type: "hello", session: session, lang: lang, after: restDirty ? 0 : lastId,
        link: linkCode || null, user: options.user && options.user.id ? options.user : null,
      }));
    };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame === "object") onFrame(frame, sock);
    };
    sock.onclose = function (ev) { onSocketGone(sock, ev); };
    sock.onerror = function () { /* onclose follows */ };
  }

  // A message sent on a socket that then closed before its ack: sent again on the next one, but
  // not for ever (a message the server cannot take must not loop); after MAX_SEND_TRIES, not sent.
  var sendTries = {};
  function countUnacknowledged() {
    Object.keys(inflight).forEach(function (cmid) {
      sendTries[cmid] = (sendTries[cmid] || 0) + 1;
      if (sendTries[cmid] < MAX_SEND_TRIES) return;
      delete sendTries[cmid];
      dropFromOutbox(cmid);
      if (byClient[cmid]) setPending(byClient[cmid], "failed");
      showError(S().failed);
    });
  }

  function onSocketGone(sock, ev) {
    if (sock && ws !== sock) return;
    var hadReady = ready;
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    if (hadReady) countUnacknowledged(); // in REST mode no socket was ready: `inflight` is the REST backoff's
    if (ev && ev.code === 4403) stopped = true;
    if (stopped) { hideNotice("reconnecting"); return; }
    if (hadReady) failures = 0;
    failures += 1;
    if (silentReconnect) { silentReconnect = false; failures = 0; connectSoon(0); return; }
    if (!everConnected && failures >= FALLBACK_AFTER_FAILURES && !restMode) enterRestMode();
    if (everConnected && !(currentNotice && currentNotice.key === "offline")) showNotice("reconnecting", S().reconnecting, false, "reconnecting");
    connectSoon(restMode ? BACKOFF_MAX_MS : backoff());
  }

  function onFrame(f, sock) {
    switch (f.type) {
      case "ready":
        var initial = !everConnected; // the history on load is not "unread"
        ready = true;
        everConnected = true;
        failures = 0;
        if (restMode) { restMode = false; }
        hideNotice("reconnecting");
        if (linkCode) { linkCode = null; forgetLinkParam(); }
        if (restDirty) { // replace the id-less replies drawn from POST /api/chat
          Array.prototype.slice.call(log.querySelectorAll(".msg[data-rest]")).forEach(function (li) {
            if (li.dataset.client) delete byClient[li.dataset.client];
            li.remove();
          });
          restDirty = false;
        }
        bar.hidden = !(f.features && f.features.telegram);
        (Array.isArray(f.messages) ? f.messages : []).forEach(function (m) { renderMessage(m, initial); });
        showOutboxBubbles();
        clearInterval(pingTimer);
        awaitingPong = false;
        pingTimer = setInterval(function () {
          if (ws !== sock || sock.readyState !== WebSocket.OPEN) return;
          if (awaitingPong) { // a dead connection: give it up now rather than wait for its close handshake
            onSocketGone(sock, { code: 4000 });
            try { sock.close(4000, "no pong"); } catch (e) { /* closing anyway */ }
            return;
          }
          awaitingPong = true;
          sock.send(JSON.stringify({ type: "ping" }));
        }, PING_MS);
        flush();
        break;
      case "ack": {
        var cmid = f.client_message_id;
        if (!cmid) break;
        delete inflight[cmid];
        delete sendTries[cmid];
        dropFromOutbox(cmid);
        hideNotice("slow");
        var li = byClient[cmid];
        if (li) {
          setPending(li, null);
          var id = Number(f.message_id) || 0;
          if (id && !li.dataset.id && !byId[id]) { li.dataset.id = String(id); byId[id] = li; place(li); }
        }
        break;
      }
      case "message":
        if (f.message && typeof f.message === "object") renderMessage(f.message, false);
        break;
      case "typing":
        setTyping(!!f.on);
        break;
      case "pong":
        awaitingPong = false;
        break;
      case "error":
        onError(f.error, f.detail, f.client_message_id || null, f.retry_after);
        break;
      default:
        break;
    }
  }

  function onError(code, detail, cmid, retryAfter) {
    var s = S();
    if (code === "invalid_message" || (code === "bad_frame" && cmid)) {
      if (cmid) {
        dropFromOutbox(cmid);
        delete inflight[cmid];
        if (byClient[cmid]) setPending(byClient[cmid], "failed");
      }
      showError(detail ? String(detail) : s.failed);
    } else if (code === "rate_limited") {
      if (cmid) delete inflight[cmid]; // kept in the outbox: sent again once the wait is over
      holdSending(retryAfter);
    } else if (code === "bot_unavailable") {
      if (cmid) { dropFromOutbox(cmid); if (byClient[cmid]) setPending(byClient[cmid], null); }
      setTyping(false);
      showNotice("down", s.down, true, "down");
    } else if (code === "invalid_identity") {
      stopped = true;
      setTyping(false);
      showNotice("identity", s.identity, true, "identity");
      input.disabled = true;
      sendBtn.disabled = true;
      if (ws) { try { ws.close(1000); } catch (e) { /* already closing */ } }
    } else if (code === "invalid_link") {
      linkCode = null;
      forgetLinkParam();
      showNotice("link", s.badLink, false, "badLink");
    } else if (window.console) {
      console.warn("Larkspur chat:", code, detail);
    }
  }

  // -- the REST fallback (no WebSocket can be opened) -------------------------------------------
  function api(method, path, body) {
    return fetch(ORIGIN + path, {
      method: method, mode: "cors", credentials: "omit",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) { return { ok: res.ok, status: res.status, data: data }; });
    });
  }

  function enterRestMode() {
    restMode = true;
    api("GET", "/api/chat/history?session=" + encodeURIComponent(session)).then(function (r) {
      if (r.ok && Array.isArray(r.data.messages)) r.data.messages.forEach(function (m) { renderMessage(m, true); });
    }).catch(function () { /* offline too */ }).then(function () {
      showOutboxBubbles();
      restFlush();
    });
  }

  var restBusy = false;
  function restFlush() {
    if (restBusy || stopped || !restMode || Date.now() < holdUntil) return;
    var item = outbox.filter(function (m) { return !inflight[m.client_message_id]; })[0];
    if (!item) return;
    restBusy = true;
    setTyping(true);
    api("POST", "/api/chat", { session: session, text: item.text, payload: item.payload == null ? null : item.payload, client_message_id: item.client_message_id, lang: lang })
      .then(function (r) {
        var li = byClient[item.client_message_id];
        if (r.ok) {
          dropFromOutbox(item.client_message_id);
          if (li) { setPending(li, null); li.dataset.rest = "1"; }
          restDirty = true;
          hideNotice("down");
          hideNotice("slow");
          (r.data.replies || []).forEach(function (reply) { renderMessage({ sender: "bot", text: reply.text, buttons: reply.buttons }, false); });
        } else if (r.status === 503) {
          dropFromOutbox(item.client_message_id);
          if (li) { setPending(li, null); li.dataset.rest = "1"; }
          restDirty = true;
          showNotice("down", S().down, true, "down");
        } else if (r.status === 429) {
          holdSending(r.data && r.data.retry_after); // not stored: kept in the outbox, sent after the wait
        } else if (r.status >= 400 && r.status < 500) {
          dropFromOutbox(item.client_message_id);
          if (li) setPending(li, "failed");
          showError(r.data && typeof r.data.detail === "string" ? r.data.detail : S().failed);
        } else {
          throw new Error("HTTP " + r.status);
        }
      })
      .catch(function () {
        showError(S().failed); // kept in the outbox: sent again on the next try
        inflight[item.client_message_id] = true;
        setTimeout(function () { delete inflight[item.client_message_id]; restFlush(); }, BACKOFF_MAX_MS);
      })
      .then(function () {
        restBusy = false;
        setTyping(false);
        if (restMode) restFlush();
      });
  }

  // -- Continue on Telegram -----------------------------------------------------------------
  function continueOnTelegram() {
    tgBtn.disabled = true;
    api("POST", "/api/chat/telegram-link", { session: session }).then(function (r) {
      if (!r.ok || !r.data.url || !/^https?:\/\//.test(r.data.url)) {
        if (r.status === 404) bar.hidden = true;
        showNotice("telegram", S().telegramFailed, true, "telegramFailed");
        return;
      }
      var win = null;
      try { win = window.open(r.data.url, "_blank"); } catch (e) { win = null; }
      if (win) { try { win.opener = null; } catch (e) { /* cross-origin already */ } }
      else showNotice("telegram", "", false, null, { href: r.data.url, text: S().telegramLink });
    }).catch(function () {
      showNotice("telegram", S().telegramFailed, true, "telegramFailed");
    }).then(function () { tgBtn.disabled = false; });
  }

  // -- start ------------------------------------------------------------------------------------
  function start() {
    build();
    applyLanguage();
    showOutboxBubbles(); // unsent after a reload: shown at once, sent once connected
    var remembered = store.get("larkspur.open");
    var shouldOpen = linkCode ? true : remembered === null ? !!options.open : remembered === "1";
    if (shouldOpen) open(false); // opened on load: the host page keeps its focus
    if (navigator.onLine === false) showNotice("offline", S().offline, false, "offline");
    connect();
  }

  window.Larkspur = {
    version: VERSION,
    open: function () { open(); },
    close: function () { close(false); },
    toggle: function () { toggle(); },
    setLanguage: function (code) { setLanguage(code); },
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
