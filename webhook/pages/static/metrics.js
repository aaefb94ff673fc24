// The admins' metrics page: reads the filters, fetches /api/metrics (same-origin, with the
// console's HttpOnly cookie) and draws the numbers, charts and tables. Every text from the
// server goes in through textContent; questions may be Persian or Arabic, hence dir="auto".
(function () {
  "use strict";

  const FILTERS = ["from", "to", "channel", "lang"];
  const COLORS = {
    conversations: "#5b3cc4",
    deflected: "#1f9d6b",
    handoffs: "#d9822b",
    bot: "#5b3cc4",
    agents: "#1f9d6b",
    confirmed: "#1f9d6b",
    assumed: "#7fd1ae",
    pending: "#c9c6d8",
    reverted: "#d64545",
  };
  const LANGUAGES = { en: "English", fa: "Persian", ar: "Arabic" };
  const charts = {};
  let request = 0;

  const $ = (id) => document.getElementById(id);

  function setText(id, text) {
    $(id).textContent = text;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + " %";
  }

  function number(value, digits) {
    return value === null || value === undefined ? "—" : value.toFixed(digits);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
    return (s / 86400).toFixed(1) + " days";
  }

  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  // -- filters <-> the address bar ---------------------------------------------------
  function readAddress() {
    const params = new URLSearchParams(location.search);
    for (const name of FILTERS) {
      const value = params.get(name);
      if (value) $("filter-" + name).value = value.slice(0, name === "from" || name === "to" ? 10 : 16);
    }
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = $("filter-" + name).value;
      if (value) params.set(name, value);
    }
    return params;
  }

  // -- rendering -----------------------------------------------------------------------
  function draw(name, config) {
    if (typeof Chart === "undefined") return;
    if (charts[name]) charts[name].destroy();
    charts[name] = new Chart($("chart-" + name), config);
  }

  function cell(row, text, className, dir) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    if (dir) td.dir = dir;
    row.appendChild(td);
    return td;
  }

  function fillTable(id, rows, render) {
    const body = $(id);
    body.replaceChildren();
    for (const item of rows) {
      const tr = document.createElement("tr");
      render(tr, item);
      body.appendChild(tr);
    }
    $(id + "-empty").hidden = rows.length > 0;
  }

  function render(data) {
    const range = data.range;
    const to = new Date(new Date(range.to).getTime() - 1);
    let scope = "Conversations started " + when(range.from) + " – " + when(to.toISOString());
    if (range.channel) scope += " · on " + range.channel;
    if (range.lang) scope += " · in " + (LANGUAGES[range.lang] || range.lang);
    scope += " · assumed deflections count after " + range.deflection_window_h + " h";
    setText("range", scope);

    const d = data.deflection;
    setText("h-conversations", String(data.conversations));
    setText("h-deflection", percent(d.rate));
    setText("h-deflection-split", "confirmed " + percent(d.confirmed_rate) + " · assumed " + percent(d.assumed_rate));
    setText("h-handoff", percent(data.handoffs.rate));
    setText("h-handoff-count", data.handoffs.total + " handed off");
    setText("h-csat", data.csat.average === null ? "—" : number(data.csat.average, 2) + " / 5");
    setText("h-csat-count", data.csat.answered + " of " + data.csat.asked + " answered");
    const timing = data.agents;
    setText("h-first-response", duration(timing.first_response_s.median));
    setText("h-first-response-p90", "p90 " + duration(timing.first_response_s.p90) + " · " + timing.first_response_s.count + " conversations");
    setText("h-resolution", duration(timing.resolution_s.median));
    setText("h-resolution-p90", "p90 " + duration(timing.resolution_s.p90) + " · " + timing.resolution_s.count + " conversations");
    const privacy = data.privacy;
    if (privacy) {
      setText("h-retention", String(privacy.erased_by_retention));
      setText("h-retention-sub", privacy.retention_days > 0
        ? "after " + privacy.retention_days + " days · last run " + (privacy.last_retention_run ? when(privacy.last_retention_run) : "never")
          + " · " + privacy.customers_erased + " customers erased on request"
        : "retention is off · " + privacy.customers_erased + " customers erased on request");
    }

    const series = data.series;
    draw("series", {
      type: "line",
      data: {
        labels: series.map((p) => p.date),
        datasets: ["conversations", "deflected", "handoffs"].map((key) => ({
          label: key === "handoffs" ? "handed off" : key,
          data: series.map((p) => p[key]),
          borderColor: COLORS[key],
          backgroundColor: COLORS[key],
          tension: 0,
        })),
      },
      options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    const reasons = data.handoffs.by_reason;
    draw("reasons", {
      type: "bar",
      data: {
        labels: reasons.map((r) => r.reason.replace(/_/g, " ")),
        datasets: [{ label: "conversations", data: reasons.map((r) => r.count), backgroundColor: COLORS.handoffs }],
      },
      options: { responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    const parts = ["confirmed", "assumed", "pending", "reverted"];
    draw("deflection", {
      type: "doughnut",
      data: {
        labels: parts,
        datasets: [{ data: parts.map((p) => d[p]), backgroundColor: parts.map((p) => COLORS[p]) }],
      },
      options: { responsive: true, maintainAspectRatio: false },
    });
    const ratings = ["1", "2", "3", "4", "5"];
    draw("csat", {
      type: "bar",
      data: {
        labels: ratings,
        datasets: [
          { label: "bot", data: ratings.map((r) => data.csat.bot.distribution[r]), backgroundColor: COLORS.bot },
          { label: "agents", data: ratings.map((r) => data.csat.agent.distribution[r]), backgroundColor: COLORS.agents },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    fillTable("gaps", data.content_gaps, (tr, gap) => {
      cell(tr, gap.question, "question", "auto");
      cell(tr, String(gap.count), "num");
      cell(tr, LANGUAGES[gap.language] || gap.language || "—");
      cell(tr, when(gap.last_seen));
    });
    const csatOf = new Map(data.csat.agents.map((a) => [a.username, a]));
    fillTable("agents", data.agents.per_agent, (tr, agent) => {
      const name = agent.username === null ? "(deleted user)" : agent.display_name + (agent.display_name !== agent.username ? " (" + agent.username + ")" : "");
      cell(tr, name, null, "auto");
      cell(tr, String(agent.conversations), "num");
      cell(tr, duration(agent.first_response_median_s), "num");
      cell(tr, duration(agent.resolution_median_s), "num");
      const csat = csatOf.get(agent.username);
      cell(tr, csat && csat.answered ? number(csat.average, 2) + " (" + csat.answered + ")" : "—", "num");
    });
    fillTable("articles", d.by_article, (tr, article) => {
      cell(tr, article.key);
      cell(tr, String(article.count), "num");
    });
  }

  function showError(text) {
    const box = $("metrics-error");
    box.textContent = text;
    box.hidden = !text;
  }

  async function load() {
    const mine = ++request;
    const params = query();
    history.replaceState(null, "", params.toString() ? "?" + params : location.pathname);
    setText("range", "Loading…");
    showError("");
    let response;
    try {
      response = await fetch("/api/metrics?" + params, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      if (mine === request) showError("The server could not be reached: " + err.message);
      return;
    }
    if (mine !== request) return; // a newer request is under way
    if (response.status === 401) {
      location.assign("/agent/login?next=" + encodeURIComponent("/metrics" + location.search));
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (mine !== request) return;
    if (!response.ok) {
      let detail = body && body.detail;
      if (Array.isArray(detail)) detail = detail.map((e) => e.field.replace(/^query\./, "") + ": " + e.problem).join("; ");
      setText("range", "");
      showError((response.status === 403 ? "Only admins may see the metrics." : "The metrics could not be loaded.") + (detail ? " " + detail : ""));
      return;
    }
    render(body);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("filters")) return; // the 403 page has no dashboard
    readAddress();
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    load();
  });
})();
