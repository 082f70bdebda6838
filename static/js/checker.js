// The checker without reloads: a live character counter, Ctrl+Enter to submit, and results and feedback
// fetched and swapped in. Without JavaScript the same forms post and the page reloads.
(function () {
  "use strict";

  function counter() {
    var box = document.getElementById("id_text");
    var out = document.getElementById("counter");
    if (!box || !out) { return; }
    var max = parseInt(out.dataset.max, 10);
    // The counter says how far over the limit a pasted message is, so the browser need not cut it silently;
    // the server still refuses anything longer, with an error under the box.
    box.removeAttribute("maxlength");
    function update() {
      var n = Array.from(box.value).length;
      out.textContent = n + " / " + max + " characters" + (n > max ? " (" + (n - max) + " too many)" : "");
      out.classList.toggle("over", n > max);
    }
    box.addEventListener("input", update);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        box.form.requestSubmit();
      }
    });
    update();
  }

  function swap(html, selector) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelector(selector);
    var old = document.querySelector(selector);
    if (fresh && old) { old.replaceWith(document.adoptNode(fresh)); }
    return document.querySelector(selector);
  }

  function post(form, onDone) {
    form.classList.add("busy");
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.text(); })
      .then(onDone)
      .catch(function () { form.submit(); })  // the network or the script failed: post the old way
      .finally(function () { form.classList.remove("busy"); });
  }

  function bind() {
    counter();
    var form = document.getElementById("check-form");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        post(form, function (html) {
          swap(html, "#checker");
          var outcome = swap(html, "#outcome");
          bind();
          var result = document.getElementById("result");
          var errors = document.getElementById("text-errors");
          if (errors) { document.getElementById("id_text").focus(); }
          else if (result) { result.focus(); }
          if (outcome) { outcome.setAttribute("data-loaded", "true"); }
        });
      });
    }
    var feedback = document.getElementById("feedback-form");
    if (feedback) {
      feedback.addEventListener("submit", function (event) {
        event.preventDefault();
        post(feedback, function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var note = doc.getElementById("feedback-done");
          if (note) { feedback.replaceWith(document.adoptNode(note)); }
        });
      });
    }
  }

  bind();
}());
