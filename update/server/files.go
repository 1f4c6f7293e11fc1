package server

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// files serves the repository's files. Objects, chunks and chunk
// indexes (named by the file they describe) never change once written,
// so caches may keep them; channel metadata must be revalidated.
func (s *Server) files(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET or HEAD only", http.StatusMethodNotAllowed)
		return
	}
	rel, ok := servable(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(s.root, filepath.FromSlash(rel)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasPrefix(rel, "objects/"), strings.HasPrefix(rel, "chunks/"):
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	case strings.HasSuffix(rel, ".json"):
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-cache")
	}
	// ServeContent answers HEAD, Range and conditional requests.
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}

// servable is the repository-relative path of a URL path, refusing the
// root, directories' traversal and anything with a dot component (the
// server's own state, temporary files of a writer).
func servable(urlPath string) (string, bool) {
	rel := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if rel == "" {
		return "", false
	}
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, ".") {
			return "", false
		}
	}
	return rel, true
}
