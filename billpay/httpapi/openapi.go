package httpapi

import (
	"bytes"
	_ "embed"
	"net/http"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the API's OpenAPI 3 document (openapi.yaml in this package).
func OpenAPI() []byte { return bytes.Clone(openapiDoc) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(openapiDoc)
}
