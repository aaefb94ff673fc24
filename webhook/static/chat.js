// The minimal web chat: POST /api/chat, history restored from /api/chat/history.
// All message text goes in through textContent, so no HTML from a message ever runs.
(function () {
  "use strict";
  const UI = {
    en: { title: "Support chat", placeholder: "Ask a question…", send: "Send", label: "Your message",
          down: "The assistant is unavailable right now. Your message is saved; please try again shortly.",
          failed: "Could not send your message. Please try again." },
    fa: { title: "گفتگو با پشتیبانی", placeholder: "سؤال خود را بپرسید…", send: "ارسال", label: "پیام شما",
          down: "دستیار در حال حاضر در دسترس نیست. پیام شما ذخیره شد؛ لطفاً کمی بعد دوباره تلاش کنید.",
          failed: "ارسال پیام ممکن نشد. لطفاً دوباره تلاش کنید." },
    ar: { title: "محادثة الدعم", placeholder: "اطرح سؤالك…", send: "إرسال", label: "رسالتك",
          down: "المساعد غير متاح حاليًا. تم حفظ رسالتك؛ يرجى المحاولة بعد قليل.",
          failed: "تعذّر إرسال رسالتك. يرجى المحاولة مرة أخرى." },
  };
  const $ = (id) => document.getElementById(id);
  const log = $("log"), form = $("composer"), input = $("text"), typing = $("typing"), error = $("error"), select = $("lang");

  function token() {
    let t = localStorage.getItem("larkspur.session");
    if (!t) {
      t = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now()).replace(/-/g, "");
      localStorage.setItem("larkspur.session", t);
    }
    return t;
  }
  const session = token();
  let lang = localStorage.getItem("larkspur.lang") || (navigator.language || "en").slice(0, 2);
  if (!UI[lang]) lang = "en";

  function applyLanguage() {
    const s = UI[lang];
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === "en" ? "ltr" : "rtl";
    $("chat-title").textContent = s.title; input.placeholder = s.placeholder;
    $("send").textContent = s.send; $("text-label").textContent = s.label; select.value = lang;
  }

  // Text with bare URLs turned into links (new tab) and **bold** into <strong>; everything
  // else is a text node, so nothing in a message is ever parsed as HTML.
  function appendInline(el, text) {
    String(text).split(/\*\*([^*\n]+)\*\*/g).forEach((part, i) => {
      if (!part) return;
      if (i % 2 === 1) {
        const b = document.createElement("strong");
        b.textContent = part;
        el.appendChild(b);
      } else {
        el.appendChild(document.createTextNode(part));
      }
    });
  }

  function fillText(el, text) {
    const parts = String(text).split(/(https?:\/\/[^\s<>"']+)/g);
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        const a = document.createElement("a");
        a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener noreferrer";
        el.appendChild(a);
      } else if (part) {
        appendInline(el, part);
      }
    });
  }

  function addMessage(sender, text, buttons, when) {
    const li = document.createElement("li");
    li.className = "msg " + sender;
    li.setAttribute("dir", "auto");
    fillText(li, text);
    if (buttons && buttons.length) {
      const box = document.createElement("div");
      box.className = "buttons"; box.setAttribute("role", "group");
      buttons.forEach((b) => {
        const btn = document.createElement("button");
        btn.type = "button"; btn.textContent = b.title;
        btn.addEventListener("click", () => send(b.title, b.payload));
        box.appendChild(btn);
      });
      li.appendChild(box);
    }
    const time = document.createElement("time");
    const d = when ? new Date(when) : new Date();
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
    li.appendChild(time);
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  async function send(text, payload) {
    error.hidden = true;
    addMessage("customer", text);
    typing.hidden = false;
    const clientId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
    try {
      const res = await fetch("/api/chat", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ session, text, payload: payload || null, client_message_id: clientId, lang }),
      });
      const body = await res.json();
      if (!res.ok) {
        error.textContent = res.status === 503 ? UI[lang].down : (body.detail && typeof body.detail === "string" ? body.detail : UI[lang].failed);
        error.hidden = false;
        return;
      }
      body.replies.forEach((r) => addMessage("bot", r.text, r.buttons));
    } catch (e) {
      error.textContent = UI[lang].failed; error.hidden = false;
    } finally {
      typing.hidden = true;
    }
  }

  async function restore() {
    try {
      const res = await fetch("/api/chat/history?session=" + encodeURIComponent(session));
      if (!res.ok) return;
      const body = await res.json();
      body.messages.forEach((m) => addMessage(m.sender, m.text, m.sender === "bot" ? m.buttons : [], m.created_at));
    } catch (e) { /* a fresh window */ }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  select.addEventListener("change", () => { lang = select.value; localStorage.setItem("larkspur.lang", lang); applyLanguage(); });
  applyLanguage();
  restore();
})();
