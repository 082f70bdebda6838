// The moderation dashboard: fetch each JSON endpoint and draw it with Chart.js (static/vendor/chartjs).
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.Chart) { return; }
  var COLOURS = {
    toxic: "#b3261e", severe_toxic: "#6d1a36", obscene: "#b75d00",
    threat: "#3154d4", insult: "#1f7a4d", identity_hate: "#7a3fb0"
  };
  var charts = {};
  var pending = 0;

  function getJSON(url) {
    pending += 1;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(url + " answered " + response.status); }
        return response.json();
      });
  }

  function done() {
    pending -= 1;
    if (pending === 0) { root.setAttribute("data-ready", "true"); }
  }

  function failed(error) {
    var note = document.createElement("p");
    note.className = "errors";
    note.setAttribute("role", "alert");
    note.textContent = "Could not load the dashboard data: " + error.message;
    root.parentNode.insertBefore(note, root);
    done();
  }

  function draw(id, config) {
    if (charts[id]) { charts[id].destroy(); }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    charts[id] = new window.Chart(document.getElementById(id), config);
    return charts[id];
  }

  function name(label) { return label.replace("_", " "); }

  function formatAge(seconds) {
    if (seconds === null) { return "nothing waits"; }
    if (seconds < 3600) { return Math.round(seconds / 60) + " minutes"; }
    if (seconds < 172800) { return Math.round(seconds / 3600) + " hours"; }
    return Math.round(seconds / 86400) + " days";
  }

  function tick(iso, period) {
    var date = new Date(iso);
    return period === "hour"
      ? date.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" })
      : date.toLocaleDateString([], { month: "short", day: "numeric" });
  }

  function loadActivity(period) {
    getJSON(root.dataset.activityUrl + "?period=" + period).then(function (data) {
      var labels = data.buckets.map(function (b) { return tick(b.start, period); });
      draw("chart-messages", {
        type: "bar",
        data: { labels: labels, datasets: [
          { label: "messages", data: data.buckets.map(function (b) { return b.messages; }), backgroundColor: "#7b8db8" },
          { label: "flagged", data: data.buckets.map(function (b) { return b.flagged; }), backgroundColor: "#b3261e" }
        ] },
        options: { scales: { y: { beginAtZero: true, title: { display: true, text: "messages" } } } }
      });
      draw("chart-rates", {
        type: "line",
        data: { labels: labels, datasets: data.labels.map(function (label) {
          return {
            label: name(label), borderColor: COLOURS[label], backgroundColor: COLOURS[label], pointRadius: 1,
            data: data.buckets.map(function (b) { return +(b.flag_rate[label] * 100).toFixed(2); })
          };
        }) },
        options: { scales: { y: { beginAtZero: true, title: { display: true, text: "% of messages over threshold" } } } }
      });
      done();
    }).catch(failed);
  }

  getJSON(root.dataset.queueUrl).then(function (data) {
    document.getElementById("queue-size").textContent = data.size.toLocaleString();
    document.getElementById("queue-age").textContent = formatAge(data.oldest_age_seconds);
    draw("chart-queue", {
      type: "bar",
      data: { labels: data.ages.map(function (a) { return a.name; }),
              datasets: [{ label: "messages waiting", data: data.ages.map(function (a) { return a.count; }), backgroundColor: "#b75d00" }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } }
    });
    done();
  }).catch(failed);

  getJSON(root.dataset.moderatorsUrl).then(function (data) {
    var rows = data.moderators;
    function series(key, colour, label) {
      return { label: label, backgroundColor: colour, data: rows.map(function (r) { return r[key]; }) };
    }
    draw("chart-moderators", {
      type: "bar",
      data: { labels: rows.map(function (r) { return r.moderator_name; }),
              datasets: [series("approve", "#1f7a4d", "approved"), series("remove", "#b3261e", "removed"),
                         series("other", "#5b6475", "other")] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
    });
    done();
  }).catch(failed);

  getJSON(root.dataset.modelsUrl).then(function (data) {
    var body = document.querySelector("#models-table tbody");
    body.textContent = "";
    data.versions.forEach(function (v) {
      var row = body.insertRow();
      row.insertCell().textContent = v.model_version;
      row.insertCell().textContent = v.messages.toLocaleString();
      row.insertCell().textContent = new Date(v.last_seen).toLocaleString();
    });
    done();
  }).catch(failed);

  // Draws the label's current threshold as a vertical line across its histogram.
  var thresholdLine = {
    id: "thresholdLine",
    afterDatasetsDraw: function (chart, args, options) {
      var x = chart.scales.x, y = chart.scales.y, ctx = chart.ctx;
      var px = x.getPixelForValue(options.value * options.buckets - 0.5);
      ctx.save();
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(px, y.top); ctx.lineTo(px, y.bottom); ctx.stroke();
      ctx.fillStyle = "#1d2330";
      ctx.fillText("threshold " + options.value.toFixed(2), Math.min(px + 4, x.right - 80), y.top + 10);
      ctx.restore();
    }
  };

  getJSON(root.dataset.scoresUrl).then(function (data) {
    var box = document.getElementById("histograms");
    var buckets = data.edges.length - 1;
    var ticks = data.edges.slice(0, -1).map(function (e) { return e.toFixed(2); });
    Object.keys(data.labels).forEach(function (label) {
      var hist = data.labels[label];
      var wrap = document.createElement("figure");
      wrap.className = "chart";
      var canvas = document.createElement("canvas");
      canvas.id = "chart-scores-" + label;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", name(label) + " scores, threshold " + hist.threshold);
      wrap.appendChild(canvas);
      box.appendChild(wrap);
      draw(canvas.id, {
        type: "bar",
        plugins: [thresholdLine],
        data: { labels: ticks, datasets: [{
          label: name(label), data: hist.counts, categoryPercentage: 1, barPercentage: 0.95,
          backgroundColor: hist.counts.map(function (_, i) { return (i + 1) / buckets > hist.threshold ? COLOURS[label] : "#b8c0d0"; })
        }] },
        options: {
          plugins: { thresholdLine: { value: hist.threshold, buckets: buckets },
                     title: { display: true, text: name(label) }, legend: { display: false } },
          scales: { y: { type: "logarithmic", title: { display: true, text: "messages (log)" } },
                    x: { title: { display: true, text: "score" } } }
        }
      });
    });
    done();
  }).catch(failed);

  Array.prototype.forEach.call(root.querySelectorAll("[data-period]"), function (button) {
    button.addEventListener("click", function () {
      root.querySelectorAll("[data-period]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
      loadActivity(button.dataset.period);
    });
  });
  loadActivity("hour");
}());
