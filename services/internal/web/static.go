package web

import (
	"embed"
	"net/http"
)

//go:embed static
var static embed.FS

// Static serves the sites' own stylesheet under /static/.
func Static() http.Handler {
	return http.FileServerFS(static)
}
