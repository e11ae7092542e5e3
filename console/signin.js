// signin.js: the sign-in form. Posts the token once as JSON and goes to the
// console; without JavaScript the form posts itself (form-urlencoded) and
// the server redirects. The token is never stored: the field is emptied.
"use strict";

(function () {
  const form = document.getElementById("signin");
  const input = document.getElementById("token");
  const error = document.getElementById("signin-error");

  function say(text) {
    error.textContent = text;
    error.hidden = false;
  }

  if (new URLSearchParams(location.search).get("signin") === "failed") {
    say("That is not the admin token.");
    history.replaceState(null, "", "/console/");
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value;
    input.value = "";
    error.hidden = true;
    let r;
    try {
      r = await fetch("/console/session", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: token }),
      });
    } catch (e) {
      say("kcgate did not answer: " + e.message);
      return;
    }
    if (r.ok) {
      location.replace("/console/");
      return;
    }
    if (r.status === 429) {
      say("Too many failed sign-ins from this address: try again in " + (r.headers.get("Retry-After") || "a few") + " s.");
      return;
    }
    let msg = "Sign-in failed (HTTP " + r.status + ").";
    try {
      const j = await r.json();
      if (r.status === 401) msg = "That is not the admin token.";
      else if (j.message) msg = j.message;
    } catch (e) { /* not JSON */ }
    say(msg);
  });
})();
