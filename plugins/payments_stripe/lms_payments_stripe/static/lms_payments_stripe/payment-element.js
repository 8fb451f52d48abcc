// Stripe's Payment Element: the card form runs in Stripe's iframe; on submit Stripe confirms
// the PaymentIntent (3-D Secure included) and sends the learner to our status page, which
// waits for the webhook. The data-* attributes on #payment-form carry the keys.
(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  if (!form || typeof window.Stripe !== "function") {
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  var placeholder = document.getElementById("payment-element");
  placeholder.textContent = "";
  elements.create("payment").mount(placeholder);
  var message = document.getElementById("payment-message");
  var button = document.getElementById("payment-submit");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    message.hidden = true;
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        // Only reached when the confirmation failed before any redirect (e.g. declined).
        if (result && result.error) {
          message.textContent = result.error.message || "The payment did not go through.";
          message.hidden = false;
          button.disabled = false;
        }
      });
  });
})();
