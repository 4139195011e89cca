// Haul's Swagger UI start-up (not part of swagger-ui-dist). It only fetches the OpenAPI JSON;
// "Try it out" requests carry the bearer token typed into Authorize, never cookies.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    withCredentials: false,
    requestInterceptor: function (req) { req.credentials = "omit"; return req; },
  });
});
