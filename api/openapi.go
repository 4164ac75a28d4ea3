package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of this API, written for readers;
// TestOpenAPIMatchesRoutes holds it to the handlers and their Go types.
//
//go:embed openapi.json
var openAPI []byte

// openAPIDoc stands for the document in the route table.
type openAPIDoc struct{}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}
