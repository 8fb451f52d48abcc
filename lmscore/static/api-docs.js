// Starts Swagger UI on /api/v1/docs. Settings arrive as data- attributes because the
// Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var config = JSON.parse(root.getAttribute("data-config") || "{}");
  config.url = root.getAttribute("data-spec-url");
  config.dom_id = "#swagger-ui";
  // The default validator badge would send our document to an outside service.
  config.validatorUrl = null;
  window.ui = window.SwaggerUIBundle(config);
})();
