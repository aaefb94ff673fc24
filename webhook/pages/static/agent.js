/*! Larkspur agent console: the sign-in form and the console (docs/agents.md).
 * Vanilla JS, no build step. The session token lives in an HttpOnly cookie, never here.
 * Every piece of customer, agent or article text enters the page through textContent.
 */
(function () {
  "use strict";

  var CONSOLE_PATH = "/agent";
  var LOGIN_PATH = "/agent/login";
  var RTL = { fa: true, ar: true };
  var LANG_NAMES = { en: "English", fa: "Persian (فارسی)", ar: "Arabic (العربية)" };
  var REASONS = {
    customer_request: "The customer asked for a person",
    bot_offer: "The customer accepted the bot's offer of a person",
    repeated_decline: "The bot found no answer, repeatedly",
    not_helpful: "The bot's answers did not help",
    frustration: "The customer seems frustrated",
  };
  var STATUSES = { bot: "With the bot", waiting_for_agent: "Waiting", with_agent: "With an agent", resolved: "Resolved" };
  var SENDERS = { customer: "Customer", bot: "Bot", agent: "Agent", system: "System" };
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;

  // -- small helpers ----------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }

  /** An element; `text` is set as textContent, every other attribute with setAttribute. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = String(v);
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  /** A same-site path to go to after signing in; anything else becomes the console. */
  function safeNext(target) {
    if (typeof target !== "string" || !target || target.length > 2000) return CONSOLE_PATH;
    if (target.charAt(0) !== "/" || target.charAt(1) === "/" || /[\\\u0000-\u001f\u007f]/.test(target)) return CONSOLE_PATH;
    try {
      var url = new URL(target, location.origin);
      if (url.origin !== location.origin) return CONSOLE_PATH;
      return url.pathname + url.search + url.hash;
    } catch (e) {
      return CONSOLE_PATH;
    }
  }

  /** fetch with the cookie; resolves {ok, status, data} and never rejects on HTTP errors. */
  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(
      function (res) {
        return res.text().then(function (raw) {
          var data = null;
          try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
          return { ok: res.ok, status: res.status, data: data };
        });
      },
      function () { return { ok: false, status: 0, data: null }; }
    );
  }

  /** A person-readable reason for a failed call. */
  function describe(r, what) {
    var d = r.data && r.data.detail;
    if (typeof d === "string" && d) return what ? what + ": " + d : d;
    if (Array.isArray(d) && d.length) {
      return (what ? what + ": " : "") + d.map(function (p) { return (p.field ? p.field + ": " : "") + (p.problem || ""); }).join("; ");
    }
    if (r.status === 0) return (what ? what + ": " : "") + "the service cannot be reached. Check the connection and try again.";
    return (what ? what + ": " : "") + "the service answered HTTP " + r.status + (r.data && r.data.error ? " (" + r.data.error + ")" : "") + ".";
  }

  function parseTime(value) {
    if (!value) return null;
    var s = String(value);
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(s)) s += "Z"; // the service stores UTC
    var d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }

  function timeEl(value) {
    var d = parseTime(value);
    if (!d) return el("time", { text: "" });
    var sameDay = d.toDateString() === new Date().toDateString();
    var label = sameDay
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    return el("time", { datetime: d.toISOString(), title: d.toLocaleString(), dir: "auto", text: label });
  }

  function ago(value) {
    var d = parseTime(value);
    if (!d) return "";
    var s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  var ICONS = {
    web: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18", "M3 12h18", "M12 3c3 3.5 3 14.5 0 18", "M12 3c-3 3.5-3 14.5 0 18"],
    telegram: ["M21 4L3 11l6 2.5L19 7l-8 8v5l3.5-4.5L19 19z"],
  };
  /** The channel as an icon plus its name ("web", "telegram"). */
  function channelEl(channel) {
    var name = String(channel || "web");
    var span = el("span", { className: "ch " + (ICONS[name] ? name : "other"), title: "via " + name });
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    (ICONS[name] || ICONS.web).forEach(function (d) {
      var path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    span.appendChild(svg);
    span.appendChild(document.createTextNode(name));
    return span;
  }

  function channelNames(channels) {
    return (Array.isArray(channels) ? channels : []).map(function (c) { return typeof c === "string" ? c : c && c.channel; }).filter(Boolean);
  }

  function nameOf(person) {
    if (!person) return "";
    if (typeof person === "string") return person;
    return person.display_name || person.name || person.username || "";
  }

  function redirectToLogin() {
    location.assign(LOGIN_PATH + "?next=" + encodeURIComponent(CONSOLE_PATH));
  }

  // == the sign-in page =====================================================================
  function startLogin(form) {
    var user = $("login-username");
    var pass = $("login-password");
    var error = $("login-error");
    var button = form.querySelector("button[type=submit]");
    function showError(text) {
      error.textContent = text;
      error.hidden = false;
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      error.hidden = true;
      var username = user.value.trim();
      if (!username || !pass.value) {
        showError("Enter your username and password.");
        (username ? pass : user).focus();
        return;
      }
      button.disabled = true;
      api("POST", "/api/agent/login", { username: username, password: pass.value }).then(function (r) {
        if (r.ok) {
          location.assign(safeNext(form.getAttribute("data-next")));
          return;
        }
        button.disabled = false;
        if (r.status === 401) showError("Wrong username or password.");
        else showError(describe(r, "Could not sign in"));
        pass.select();
        pass.focus();
      });
    });
  }

  // == the console ==========================================================================
  function startConsole(root) {
    var me = {
      username: root.getAttribute("data-username") || "",
      displayName: root.getAttribute("data-display-name") || "",
      role: root.getAttribute("data-role") || "agent",
    };
    var BASE_TITLE = document.title;
    var state = {
      queue: { waiting: [], mine: [], others: [] },
      current: null, // the conversation shown
      packet: null,
      messageIds: {},
      loadSeq: 0,
    };

    var ui = {
      badge: $("waiting-badge"), desk: $("desk"), available: $("available"), connection: $("connection"), logout: $("logout"),
      consoleError: $("console-error"),
      lists: { waiting: $("queue-waiting"), mine: $("queue-mine"), others: $("queue-others") },
      counts: { waiting: $("count-waiting"), mine: $("count-mine"), others: $("count-others") },
      empty: $("conv-empty"), conv: $("conv"), heading: $("conv-heading"), status: $("conv-status"),
      claim: $("claim"), resolve: $("resolve"), release: $("release"),
      transferForm: $("transfer-form"), transferTo: $("transfer-to"), agentNames: $("agent-names"),
      error: $("conv-error"), note: $("conv-note"),
      reasons: $("packet-reasons"), question: $("packet-question"), articles: $("packet-articles"), reactions: $("packet-reactions"),
      transcript: $("transcript"), replyForm: $("reply-form"), reply: $("reply-text"), replySend: $("reply-send"), replyHint: $("reply-hint"),
      profileName: $("profile-name"), profileLanguage: $("profile-language"), profileChannels: $("profile-channels"), earlier: $("profile-earlier"),
      notes: $("notes"), noteForm: $("note-form"), noteText: $("note-text"),
      kbForm: $("kb-form"), kbQ: $("kb-q"), kbLang: $("kb-lang"), kbStatus: $("kb-status"), kbResults: $("kb-results"),
    };

    function showConsoleError(text) {
      ui.consoleError.textContent = text || "";
      ui.consoleError.hidden = !text;
    }
    function showError(text) {
      ui.error.textContent = text || "";
      ui.error.hidden = !text;
    }
    function say(text) { ui.note.textContent = text || ""; }

    /** A call that sends the agent to the sign-in page when the session has ended. */
    function call(method, path, body) {
      return api(method, path, body).then(function (r) {
        if (r.status === 401) {
          redirectToLogin();
          return new Promise(function () {}); // the page is going away
        }
        return r;
      });
    }

    // -- chime (WebAudio; the browser allows sound after the first click or key) --------------
    var audio = null;
    function audioContext() {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      if (!audio) { try { audio = new AC(); } catch (e) { audio = null; } }
      return audio;
    }
    function unlockAudio() {
      var ctx = audioContext();
      if (ctx && ctx.state === "suspended" && ctx.resume) ctx.resume().catch(function () {});
    }
    document.addEventListener("pointerdown", unlockAudio, { once: true });
    document.addEventListener("keydown", unlockAudio, { once: true });
    function chime() {
      var ctx = audioContext();
      if (!ctx) return;
      try {
        if (ctx.state === "suspended" && ctx.resume) ctx.resume().catch(function () {});
        var t = ctx.currentTime;
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.setValueAtTime(880, t);
        osc.frequency.setValueAtTime(1320, t + 0.12);
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.35);
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(t);
        osc.stop(t + 0.4);
      } catch (e) { /* no sound: the badge and the title still say it */ }
    }

    // -- the queue ------------------------------------------------------------------------------
    function normalizeQueue(q) {
      q = q && typeof q === "object" ? q : {};
      return {
        waiting: Array.isArray(q.waiting) ? q.waiting : [],
        mine: Array.isArray(q.mine) ? q.mine : [],
        others: Array.isArray(q.others) ? q.others : [],
      };
    }

    function queueItem(item, section) {
      var id = String(item.conversation_id);
      var customer = item.customer || {};
      var name = customer.name || "Customer " + id.slice(0, 6);
      var top = el("span", { className: "row" });
      if (section === "waiting" && item.position != null) top.appendChild(el("span", { className: "position", text: "#" + item.position }));
      top.appendChild(el("span", { className: "name", dir: "auto", text: name }));
      if (customer.language) top.appendChild(el("span", { className: "tag lang", lang: "en", text: customer.language }));
      channelNames(customer.channels).forEach(function (c) { top.appendChild(channelEl(c)); });
      if (item.ticket) top.appendChild(el("span", { className: "tag ticket", title: "left outside business hours", text: "ticket" }));
      var second = el("span", { className: "row" });
      if (item.reason) second.appendChild(el("span", { className: "reason", text: REASONS[item.reason] || item.reason }));
      if (section !== "waiting" && item.agent) second.appendChild(el("span", { className: "agent", text: "· " + nameOf(item.agent) }));
      var since = section === "waiting" ? item.queued_at : item.last_message && item.last_message.created_at;
      if (since) second.appendChild(el("span", { className: "since", text: "· " + ago(since) }));
      var last = item.last_message && item.last_message.text ? el("span", { className: "last", dir: "auto", text: item.last_message.text }) : null;
      var label = name + (section === "waiting" && item.position != null ? ", number " + item.position + " waiting" : "");
      var button = el(
        "button",
        { type: "button", className: "queue-item", "data-id": id, "aria-current": id === state.current ? "true" : "false", "aria-label": null, title: label },
        [top, second, last]
      );
      button.addEventListener("click", function () { openConversation(id); });
      return el("li", { "data-id": id }, [button]);
    }

    function renderQueue() {
      var focused = document.activeElement && document.activeElement.classList && document.activeElement.classList.contains("queue-item")
        ? document.activeElement.getAttribute("data-id") : null;
      ["waiting", "mine", "others"].forEach(function (section) {
        var list = ui.lists[section];
        clear(list);
        state.queue[section].forEach(function (item) { list.appendChild(queueItem(item, section)); });
        ui.counts[section].textContent = String(state.queue[section].length);
      });
      var n = state.queue.waiting.length;
      ui.badge.textContent = n + " waiting";
      ui.badge.classList.toggle("has-waiting", n > 0);
      document.title = (n > 0 ? "(" + n + ") " : "") + BASE_TITLE;
      // the agents seen in the queue are offered for a transfer
      var names = {};
      state.queue.mine.concat(state.queue.others).forEach(function (item) {
        if (item.agent && item.agent.username) names[item.agent.username] = nameOf(item.agent);
      });
      clear(ui.agentNames);
      Object.keys(names).sort().forEach(function (u) {
        if (u !== me.username) ui.agentNames.appendChild(el("option", { value: u, label: names[u] }));
      });
      if (focused) {
        var again = root.querySelector('.queue-item[data-id="' + CSS.escape(focused) + '"]');
        if (again) again.focus();
      }
    }

    function applyQueue(queue, fresh) {
      state.queue = normalizeQueue(queue);
      ui.desk.hidden = !(queue && queue.online === false);
      renderQueue();
      if (Array.isArray(fresh) && fresh.length) chime();
      checkCurrentAgainstQueue();
    }

    /** The queue says the shown conversation changed hands or state: load it again. */
    var reloadTimer = null;
    function checkCurrentAgainstQueue() {
      if (!state.current || !state.packet) return;
      var found = null;
      ["waiting", "mine", "others"].forEach(function (s) {
        state.queue[s].forEach(function (item) { if (String(item.conversation_id) === state.current) found = item; });
      });
      var conv = state.packet.conversation || {};
      var owner = conv.agent && conv.agent.username;
      var changed = found
        ? found.status !== conv.status || ((found.agent && found.agent.username) || null) !== (owner || null)
        : conv.status === "waiting_for_agent" || conv.status === "with_agent";
      if (changed) {
        clearTimeout(reloadTimer);
        reloadTimer = setTimeout(function () { if (state.current) loadConversation(state.current, true); }, 150);
      }
    }

    function refreshQueue() {
      return call("GET", "/api/agent/queue").then(function (r) {
        if (r.ok) {
          applyQueue(r.data, null);
          showConsoleError("");
        } else {
          showConsoleError(describe(r, "The queue could not be loaded"));
        }
      });
    }

    // -- the live socket ----------------------------------------------------------------------------
    var ws = null;
    var failures = 0;
    var retryTimer = null;

    function setConnection(kind, text) {
      ui.connection.className = "connection " + kind;
      ui.connection.textContent = text;
    }

    function follow(id) {
      if (ws && ws.readyState === WebSocket.OPEN && id) ws.send(JSON.stringify({ type: "follow", conversation_id: id }));
    }

    function backoff() {
      var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, Math.max(0, failures - 1)));
      return Math.round(base * (0.75 + Math.random() * 0.5));
    }

    function connect() {
      clearTimeout(retryTimer);
      if (ws && ws.readyState <= WebSocket.OPEN) return;
      var sock;
      try {
        sock = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/agent");
      } catch (e) {
        onClosed(null, {});
        return;
      }
      ws = sock;
      sock.onopen = function () {
        if (ws !== sock) return;
        var wasDown = failures > 0;
        failures = 0;
        setConnection("live", "Live");
        if (state.current) {
          follow(state.current);
          if (wasDown) loadConversation(state.current, true); // catch up on what was missed
        }
      };
      sock.onmessage = function (ev) {
        if (ws !== sock) return;
        var frame;
        try { frame = JSON.parse(ev.data); } catch (e) { return; }
        if (frame && typeof frame === "object") onFrame(frame);
      };
      sock.onclose = function (ev) { onClosed(sock, ev); };
      sock.onerror = function () { /* onclose follows */ };
    }

    function onClosed(sock, ev) {
      if (sock && ws !== sock) return;
      ws = null;
      failures += 1;
      setConnection("down", "Reconnecting…");
      // the queue over HTTP in the meantime; a 401 there means the session ended
      refreshQueue();
      retryTimer = setTimeout(connect, ev && (ev.code === 4401 || ev.code === 1008) ? BACKOFF_MAX_MS : backoff());
    }

    function onFrame(f) {
      switch (f.type) {
        case "queue":
          applyQueue(f.queue && typeof f.queue === "object" ? f.queue : f, f["new"]);
          break;
        case "message":
          if (f.message && String(f.conversation_id) === state.current) addMessage(f.message, true);
          break;
        case "note":
          if (f.note && String(f.conversation_id) === state.current) addNote(f.note);
          break;
        case "error":
          if (window.console) console.warn("agent socket:", f.error, f.detail);
          break;
        default:
          break;
      }
    }

    // -- one conversation --------------------------------------------------------------------------
    function isMine(packet) {
      var conv = (packet && packet.conversation) || {};
      return conv.status === "with_agent" && !!conv.agent && conv.agent.username === me.username;
    }

    function openConversation(id) {
      if (state.current !== id) {
        showError("");
        say("");
      }
      state.current = id;
      try { history.replaceState(null, "", "#conversation=" + encodeURIComponent(id)); } catch (e) { /* fine */ }
      Array.prototype.forEach.call(root.querySelectorAll(".queue-item"), function (b) {
        b.setAttribute("aria-current", b.getAttribute("data-id") === id ? "true" : "false");
      });
      follow(id);
      return loadConversation(id, false);
    }

    function loadConversation(id, quiet) {
      var seq = ++state.loadSeq;
      return call("GET", "/api/agent/conversations/" + encodeURIComponent(id)).then(function (r) {
        if (seq !== state.loadSeq || state.current !== id) return r;
        if (r.ok && r.data) renderPacket(r.data);
        else if (!quiet) showError(describe(r, "The conversation could not be loaded"));
        return r;
      });
    }

    function detailText(detail) {
      if (detail === null || detail === undefined || detail === "") return [];
      if (typeof detail !== "object") return [String(detail)];
      var lines = [];
      if (detail.score !== undefined) lines.push("score " + Number(detail.score).toFixed(2) + (detail.threshold !== undefined ? " (threshold " + detail.threshold + ")" : ""));
      var signals = detail.signals || detail.explanation;
      if (signals && typeof signals === "object") {
        if (Array.isArray(signals)) {
          signals.forEach(function (s) { lines.push(typeof s === "object" ? Object.keys(s).map(function (k) { return k + ": " + s[k]; }).join(", ") : String(s)); });
        } else {
          Object.keys(signals).forEach(function (k) { lines.push(k.replace(/_/g, " ") + ": " + (typeof signals[k] === "object" ? JSON.stringify(signals[k]) : signals[k])); });
        }
      } else if (typeof signals === "string") {
        lines.push(signals);
      }
      Object.keys(detail).forEach(function (k) {
        if (k === "score" || k === "threshold" || k === "signals" || k === "explanation" || k === "reason") return;
        var v = detail[k];
        if (v === null || v === undefined || v === "") return;
        lines.push(k.replace(/_/g, " ") + ": " + (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v)));
      });
      return lines;
    }

    function renderPacket(p) {
      state.packet = p;
      var conv = p.conversation || {};
      var customer = p.customer || {};
      var lang = conv.language || customer.language || "en";
      ui.empty.hidden = true;
      ui.conv.hidden = false;
      ui.conv.setAttribute("lang", lang);
      ui.conv.setAttribute("dir", RTL[lang] ? "rtl" : "ltr");
      ui.heading.textContent = customer.name || "Customer " + String(conv.id || state.current).slice(0, 6);

      var statusText = STATUSES[conv.status] || conv.status || "";
      if (conv.status === "with_agent" && conv.agent) statusText = isMine(p) ? "Yours" : "With " + nameOf(conv.agent);
      ui.status.textContent = statusText;
      ui.status.className = "conv-status " + (conv.status || "");

      // actions
      var mine = isMine(p);
      var waiting = conv.status === "waiting_for_agent";
      ui.claim.hidden = !waiting;
      ui.resolve.hidden = !mine;
      ui.release.hidden = !(mine || waiting);
      ui.transferForm.hidden = !(mine || (me.role === "admin" && conv.status === "with_agent"));
      ui.replySend.disabled = !mine;
      ui.replyHint.textContent = mine
        ? "Enter sends · Shift+Enter adds a line"
        : waiting ? "Claim the conversation to reply." : conv.status === "with_agent" ? "Another agent has this conversation." : "Only the agent who has the conversation can reply.";

      // handoff packet
      clear(ui.reasons);
      var reasons = Array.isArray(p.reasons) && p.reasons.length ? p.reasons : p.reason ? [{ reason: p.reason }] : [];
      reasons.forEach(function (r) {
        var li = el("li", { className: r.reason === p.reason ? "primary-reason" : "" }, [
          el("span", { className: "reason-name", text: REASONS[r.reason] || r.reason }),
          r.created_at ? " · " : null,
          r.created_at ? timeEl(r.created_at) : null,
        ]);
        detailText(r.detail).forEach(function (line) { li.appendChild(el("span", { className: "detail", dir: "auto", text: line })); });
        ui.reasons.appendChild(li);
      });
      if (!reasons.length) ui.reasons.appendChild(el("li", { className: "muted", text: "Not handed over: the bot has this conversation." }));
      var summary = p.summary || {};
      ui.question.textContent = summary.question || "—";
      clear(ui.articles);
      (Array.isArray(summary.articles) ? summary.articles : []).forEach(function (a) {
        ui.articles.appendChild(el("li", {}, [
          el("span", { dir: "auto", text: a.title || a.key }),
          " ",
          el("span", { className: "score", text: "score " + (typeof a.score === "number" ? a.score.toFixed(2) : String(a.score)) + (a.decision ? ", " + a.decision : "") }),
        ]));
      });
      if (!ui.articles.firstChild) ui.articles.appendChild(el("li", { className: "muted none", text: "none" }));
      clear(ui.reactions);
      (Array.isArray(summary.reactions) ? summary.reactions : []).forEach(function (x) {
        ui.reactions.appendChild(el("li", { dir: "auto", text: typeof x === "string" ? x : JSON.stringify(x) }));
      });
      if (!ui.reactions.firstChild) ui.reactions.appendChild(el("li", { className: "muted none", text: "none" }));

      // profile
      ui.profileName.textContent = customer.name || "unknown";
      ui.profileLanguage.textContent = LANG_NAMES[customer.language] || customer.language || "unknown";
      clear(ui.profileChannels);
      (Array.isArray(customer.channels) ? customer.channels : []).forEach(function (c) {
        var name = typeof c === "string" ? c : c.channel;
        var li = el("li", {}, [channelEl(name)]);
        if (c && c.last_seen_at) li.appendChild(el("span", { className: "muted", text: " · seen " + ago(c.last_seen_at) }));
        ui.profileChannels.appendChild(li);
      });
      clear(ui.earlier);
      (Array.isArray(customer.earlier) ? customer.earlier : []).forEach(function (e) {
        var open = el("button", { type: "button", text: parseTime(e.created_at) ? parseTime(e.created_at).toLocaleDateString() : String(e.id).slice(0, 8) });
        open.addEventListener("click", function () { openConversation(String(e.id)); });
        var csat = e.csat === null || e.csat === undefined ? "no rating" : "CSAT " + (typeof e.csat === "object" ? e.csat.rating : e.csat) + "/5";
        ui.earlier.appendChild(el("li", {}, [open, " · " + (STATUSES[e.status] || e.status || "") + " · " + csat]));
      });
      if (!ui.earlier.firstChild) ui.earlier.appendChild(el("li", { className: "muted none", text: "none" }));

      // transcript and notes
      state.messageIds = {};
      clear(ui.transcript);
      (Array.isArray(p.transcript) ? p.transcript : []).forEach(function (m) { addMessage(m, false); });
      scrollTranscript(true);
      clear(ui.notes);
      (Array.isArray(p.notes) ? p.notes : []).forEach(addNote);

      // the help-centre search starts from the customer's question, in their language
      if (ui.kbLang.querySelector('option[value="' + lang + '"]')) ui.kbLang.value = lang;
      if (!ui.kbQ.value && summary.question) ui.kbQ.value = summary.question;
    }

    function scrollTranscript(force) {
      var t = ui.transcript;
      if (force || t.scrollHeight - t.scrollTop - t.clientHeight < 120) t.scrollTop = t.scrollHeight;
    }

    function addMessage(m, live) {
      if (!m || typeof m !== "object") return;
      var id = m.id === undefined || m.id === null ? null : String(m.id);
      if (id && state.messageIds[id]) return;
      var sender = SENDERS[m.sender] ? m.sender : "system";
      var author = nameOf(m.author);
      var head = el("div", { className: "msg-head" }, [
        el("span", { className: "sender", text: SENDERS[sender] }),
        author && sender !== "customer" ? el("span", { className: "author", dir: "auto", text: author }) : null,
        channelEl(m.channel || "web"),
        timeEl(m.created_at),
      ]);
      var li = el("li", { className: "msg " + sender, "data-id": id }, [head, el("p", { className: "text", dir: "auto", text: m.text || "" })]);
      if (Array.isArray(m.buttons) && m.buttons.length) {
        var offered = el("ul", { className: "offered", "aria-label": "Buttons offered" });
        m.buttons.forEach(function (b) { if (b && b.title) offered.appendChild(el("li", { dir: "auto", text: b.title })); });
        li.appendChild(offered);
      }
      if (id) state.messageIds[id] = true;
      // keep the order by id, whatever order frames and answers arrive in
      var before = null;
      if (id && /^\d+$/.test(id)) {
        var items = ui.transcript.children;
        for (var i = items.length - 1; i >= 0; i--) {
          var other = items[i].getAttribute("data-id");
          if (other && /^\d+$/.test(other) && Number(other) > Number(id)) before = items[i];
          else break;
        }
      }
      ui.transcript.insertBefore(li, before);
      if (live) scrollTranscript(m.sender === "agent");
    }

    function addNote(n) {
      if (!n || typeof n !== "object") return;
      var id = n.id === undefined || n.id === null ? null : String(n.id);
      if (id && ui.notes.querySelector('[data-id="' + CSS.escape(id) + '"]')) return;
      ui.notes.appendChild(el("li", { className: "note", "data-id": id }, [
        el("div", { className: "note-head" }, [el("span", { dir: "auto", text: nameOf(n.author) || "agent" }), " · ", timeEl(n.created_at)]),
        el("p", { className: "text", dir: "auto", text: n.text || "" }),
      ]));
    }

    // -- actions -----------------------------------------------------------------------------------
    function action(path, body, done) {
      var id = state.current;
      if (!id) return Promise.resolve(null);
      showError("");
      return call("POST", "/api/agent/conversations/" + encodeURIComponent(id) + path, body).then(function (r) {
        if (state.current !== id) return r;
        if (r.ok) {
          if (r.data && r.data.conversation) renderPacket(r.data);
          if (done) done(r);
        }
        return r;
      });
    }

    function withBusy(button, promise) {
      button.disabled = true;
      return promise.then(function (r) { button.disabled = false; return r; }, function () { button.disabled = false; });
    }

    ui.claim.addEventListener("click", function () {
      withBusy(ui.claim, action("/claim", undefined, function () { say("You have this conversation now."); ui.reply.focus(); })).then(function (r) {
        if (!r || r.ok) return;
        if (r.status === 409) {
          var id = state.current;
          loadConversation(id, true).then(function (again) {
            var owner = again && again.ok && again.data && again.data.conversation && again.data.conversation.agent;
            showError("Already taken by " + (owner ? nameOf(owner) : (r.data && r.data.detail) || "another agent") + ".");
          });
        } else {
          showError(describe(r, "Could not claim it"));
        }
      });
    });

    ui.resolve.addEventListener("click", function () {
      withBusy(ui.resolve, action("/resolve", undefined, function () { say("Resolved: the customer is asked how satisfied they are."); })).then(function (r) {
        if (r && !r.ok) showError(describe(r, "Could not resolve it"));
      });
    });

    ui.release.addEventListener("click", function () {
      withBusy(ui.release, action("/release", undefined, function () { say("Given back to the bot."); })).then(function (r) {
        if (r && !r.ok) showError(describe(r, "Could not give it back to the bot"));
      });
    });

    ui.transferForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var username = ui.transferTo.value.trim();
      if (!username) {
        showError("Type the username of the agent to transfer to.");
        ui.transferTo.focus();
        return;
      }
      var button = ui.transferForm.querySelector("button");
      withBusy(button, action("/transfer", { username: username }, function () {
        ui.transferTo.value = "";
        say("Transferred to " + username + ".");
      })).then(function (r) {
        if (!r || r.ok) return;
        if (r.status === 404) showError("There is no agent " + username + ".");
        else showError(describe(r, "Could not transfer it"));
      });
    });

    function sendReply() {
      var text = ui.reply.value.trim();
      if (!text) return;
      if (!isMine(state.packet)) {
        showError(ui.replyHint.textContent);
        return;
      }
      var id = state.current;
      ui.replySend.disabled = true;
      call("POST", "/api/agent/conversations/" + encodeURIComponent(id) + "/messages", { text: text }).then(function (r) {
        ui.replySend.disabled = !isMine(state.packet);
        if (state.current !== id) return;
        if (r.ok) {
          showError("");
          if (ui.reply.value.trim() === text) ui.reply.value = "";
          addMessage(r.data, true);
          scrollTranscript(true);
        } else {
          showError(describe(r, "The reply was not sent"));
        }
        ui.reply.focus();
      });
    }

    ui.replyForm.addEventListener("submit", function (ev) { ev.preventDefault(); sendReply(); });
    ui.reply.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        sendReply();
      }
    });

    ui.noteForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = ui.noteText.value.trim();
      var id = state.current;
      if (!text || !id) return;
      var button = ui.noteForm.querySelector("button");
      withBusy(button, call("POST", "/api/agent/conversations/" + encodeURIComponent(id) + "/notes", { text: text })).then(function (r) {
        if (state.current !== id || !r) return;
        if (r.ok) {
          ui.noteText.value = "";
          addNote(r.data);
        } else {
          showError(describe(r, "The note was not saved"));
        }
      });
    });

    // -- help-centre search ---------------------------------------------------------------------------
    function insertIntoReply(text) {
      var box = ui.reply;
      var start = box.selectionStart;
      var end = box.selectionEnd;
      var value = box.value;
      if (document.activeElement !== box || typeof start !== "number") { start = end = value.length; }
      var before = value.slice(0, start);
      var piece = (before && !/\n$/.test(before) ? "\n" : "") + text;
      box.setRangeText(piece, start, end, "end");
      box.focus();
    }

    ui.kbForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var q = ui.kbQ.value.trim();
      if (!q) { ui.kbQ.focus(); return; }
      var lang = ui.kbLang.value;
      ui.kbStatus.textContent = "Searching…";
      clear(ui.kbResults);
      api("GET", "/api/kb/search?q=" + encodeURIComponent(q) + "&lang=" + encodeURIComponent(lang) + "&limit=5").then(function (r) {
        if (!r.ok || !r.data) {
          ui.kbStatus.textContent = describe(r, "The search failed");
          return;
        }
        var found = Array.isArray(r.data.candidates) ? r.data.candidates : [];
        ui.kbStatus.textContent = found.length ? found.length + " article" + (found.length === 1 ? "" : "s") + " found" : "No articles found.";
        found.forEach(function (c) {
          var articleLang = c.lang || lang;
          var path = "/help/" + encodeURIComponent(c.key) + "?lang=" + encodeURIComponent(articleLang);
          var link = el("a", { href: path, target: "_blank", rel: "noopener", dir: "auto", text: c.title || c.key });
          var insert = el("button", { type: "button", "aria-label": "Insert “" + (c.title || c.key) + "” into the reply", text: "Insert" });
          insert.addEventListener("click", function () { insertIntoReply((c.title || c.key) + "\n" + location.origin + path); });
          ui.kbResults.appendChild(el("li", {}, [
            el("span", {}, [link, " ", el("span", { className: "score", text: typeof c.score === "number" ? c.score.toFixed(2) : "" })]),
            insert,
          ]));
        });
      });
    });

    // -- header ---------------------------------------------------------------------------------------
    var AVAILABLE_KEY = "larkspur.agent.available";
    function setPresence(available) {
      ui.available.disabled = true;
      return call("POST", "/api/agent/presence", { available: available }).then(function (r) {
        ui.available.disabled = false;
        if (r.ok) {
          var now = r.data && typeof r.data.available === "boolean" ? r.data.available : available;
          ui.available.checked = now;
          try { localStorage.setItem(AVAILABLE_KEY, now ? "1" : "0"); } catch (e) { /* not remembered */ }
          showConsoleError("");
        } else {
          ui.available.checked = !available;
          showConsoleError(describe(r, "Your availability could not be changed"));
        }
      });
    }
    ui.available.addEventListener("change", function () { setPresence(ui.available.checked); });

    ui.logout.addEventListener("click", function () {
      ui.logout.disabled = true;
      api("POST", "/api/agent/logout").then(function () { location.assign(LOGIN_PATH); });
    });

    // -- start ---------------------------------------------------------------------------------------
    var remembered = null;
    try { remembered = localStorage.getItem(AVAILABLE_KEY); } catch (e) { remembered = null; }
    ui.available.checked = remembered !== "0";
    setPresence(ui.available.checked);
    setConnection("down", "Connecting…");
    refreshQueue().then(function () {
      var hash = /^#conversation=(.+)$/.exec(location.hash);
      if (hash) openConversation(decodeURIComponent(hash[1]));
    });
    connect();
    setInterval(renderQueueTimes, 30000);
    function renderQueueTimes() {
      if (!root.contains(document.activeElement) || !document.activeElement.classList.contains("queue-item")) renderQueue();
    }
  }

  function start() {
    var form = $("login-form");
    if (form) startLogin(form);
    var root = $("console");
    if (root) startConsole(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
