// twofold: the bridge between the server's WebAuthn JSON (binary fields as
// base64url without padding) and navigator.credentials, for the forms that
// enrol a security key or a passkey and sign in with one. No inline script:
// each form says what to do in its data-* attributes (data-ceremony
// "registration", "sign-in" or "passkey"; data-autofill names the input whose
// autofill offers passkeys, by conditional mediation).
"use strict";

(function () {
  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (buffer === null || buffer === undefined) return null;
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBufferIds(descriptors) {
    return (descriptors || []).map(function (d) {
      return Object.assign({}, d, { id: toBuffer(d.id) });
    });
  }

  // PublicKeyCredentialCreationOptions from the server's JSON.
  function creationOptions(publicKey) {
    var options = Object.assign({}, publicKey, {
      challenge: toBuffer(publicKey.challenge),
      user: Object.assign({}, publicKey.user, { id: toBuffer(publicKey.user.id) }),
      excludeCredentials: withBufferIds(publicKey.excludeCredentials),
    });
    return options;
  }

  // PublicKeyCredentialRequestOptions from the server's JSON.
  function requestOptions(publicKey) {
    return Object.assign({}, publicKey, {
      challenge: toBuffer(publicKey.challenge),
      allowCredentials: withBufferIds(publicKey.allowCredentials),
    });
  }

  function extensionResults(credential) {
    try {
      return credential.getClientExtensionResults() || {};
    } catch (e) {
      return {};
    }
  }

  // The standard JSON form of a new credential (what toJSON() gives in new browsers).
  function registrationJSON(credential) {
    var response = credential.response;
    var transports = typeof response.getTransports === "function" ? response.getTransports() : [];
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        attestationObject: toBase64url(response.attestationObject),
        transports: transports,
      },
      clientExtensionResults: extensionResults(credential),
    };
  }

  // The standard JSON form of an assertion.
  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: toBase64url(response.userHandle),
      },
      clientExtensionResults: extensionResults(credential),
    };
  }

  // The browser's refusal, in words a person can act on.
  function explain(error, ceremony) {
    switch (error && error.name) {
      case "InvalidStateError":
        return "This key is already registered to your account. Use another key, or sign in with this one.";
      case "NotAllowedError":
        if (ceremony === "passkey")
          return "The passkey was not unlocked (fingerprint, face or PIN), the request was cancelled, or this device holds no passkey for this site. Try again.";
        return ceremony === "registration"
          ? "The key was not touched in time, or the request was cancelled. Try again."
          : "The key was not touched in time, the request was cancelled, or this key is not registered to your account. Try again.";
      case "AbortError":
        return "The request was cancelled. Try again.";
      case "SecurityError":
        return "The browser refused: this page's address does not match the address twofold is configured with (server.origin).";
      case "NotSupportedError":
        return "This browser or key does not support the kind of credential twofold asks for.";
      case "ConstraintError":
        return "The key cannot meet what was asked (for example a PIN it does not have).";
      case "UnknownError":
        return "The key reported an error. Unplug it, plug it in again and retry.";
      default:
        return (error && error.message) || "Something went wrong talking to the key.";
    }
  }

  // "the name is too long" -> "The name is too long."
  function sentence(text) {
    text = String(text || "").trim();
    if (!text) return text;
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (json) {
          return { status: response.status, ok: response.ok, json: json };
        });
    });
  }

  // An answer from twofold that is not a success.
  function ServerRefusal(answer) {
    this.answer = answer;
  }

  function expectOk(answer) {
    if (!answer.ok) throw new ServerRefusal(answer);
    return answer.json;
  }

  function bind(form) {
    var ceremony = form.dataset.ceremony;
    var status = form.querySelector("[data-role=status]");
    var error = form.querySelector("[data-role=error]");
    var button = form.querySelector("button[type=submit]");

    function show(statusText, errorText) {
      status.textContent = statusText || "";
      error.textContent = errorText || "";
    }

    if (!window.PublicKeyCredential || !navigator.credentials) {
      show("", "This browser cannot use security keys. Use a current Firefox, Chrome, Edge or Safari, over http://localhost or https.");
      button.disabled = true;
      return;
    }

    // The passkey autofill: a conditional request waits for the person to
    // pick a passkey in the username field's suggestions.
    var autofill = null;
    function startAutofill() {
      if (!form.dataset.autofill || !PublicKeyCredential.isConditionalMediationAvailable) return;
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) return;
        autofill = new AbortController();
        var signal = autofill.signal;
        postJSON(form.dataset.begin, {})
          .then(expectOk)
          .then(function (options) {
            form.dataset.autofillState = "waiting";
            var request = { publicKey: requestOptions(options.publicKey), mediation: "conditional", signal: signal };
            return navigator.credentials.get(request).then(assertionJSON);
          })
          .then(function (credential) {
            show("Checking…", "");
            return postJSON(form.dataset.finish, credential);
          })
          .then(expectOk)
          .then(function () {
            window.location.assign(form.dataset.done);
          })
          .catch(function (failure) {
            form.dataset.autofillState = "ended";
            if (failure instanceof ServerRefusal) {
              show("", sentence(failure.answer.json.message));
            }
          });
      });
    }
    startAutofill();

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (autofill) autofill.abort();
      button.disabled = true;
      show(ceremony === "passkey" ? "Unlock your passkey when the browser asks." : "Insert and touch your key.", "");
      var name = form.elements.namedItem("name");
      var beginBody = ceremony === "registration" ? { name: name ? name.value : "" } : {};
      postJSON(form.dataset.begin, beginBody)
        .then(expectOk)
        .then(function (options) {
          if (ceremony === "registration") {
            var creation = { publicKey: creationOptions(options.publicKey) };
            return navigator.credentials.create(creation).then(registrationJSON);
          }
          // A modal request, whatever mediation the server suggested.
          var request = { publicKey: requestOptions(options.publicKey) };
          return navigator.credentials.get(request).then(assertionJSON);
        })
        .then(function (credential) {
          show("Checking…", "");
          var remember = form.elements.namedItem("remember_browser");
          if (remember && remember.checked) credential.remember_browser = true;
          return postJSON(form.dataset.finish, credential);
        })
        .then(expectOk)
        .then(function () {
          show("Done.", "");
          window.location.assign(form.dataset.done);
        })
        .catch(function (failure) {
          button.disabled = false;
          if (failure instanceof ServerRefusal) {
            var answer = failure.answer;
            if (answer.status === 401 && answer.json.error === "unauthenticated") {
              window.location.assign(form.dataset.restart);
              return;
            }
            show("", sentence(answer.json.message) || "twofold refused the request (" + answer.status + ").");
            return;
          }
          show("", explain(failure, ceremony));
        });
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-ceremony]");
    for (var i = 0; i < forms.length; i++) bind(forms[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
