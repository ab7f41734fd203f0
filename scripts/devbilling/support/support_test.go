package support

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func post(t *testing.T, url, ticket string, body []byte) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, url+"/support/bundles", bytes.NewReader(body))
	req.Header.Set("X-Tipring-Ticket", ticket)
	req.Header.Set("X-Tipring-Account", "100200300")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestStoresBundlesAndListsThem(t *testing.T) {
	dir := t.TempDir()
	desk, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(desk.Handler())
	defer srv.Close()

	body := gz(t, "a bundle")
	if resp := post(t, srv.URL, "123456", body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", resp.Status)
	}
	got, err := os.ReadFile(filepath.Join(dir, "ticket-123456.tar.gz"))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("stored %d bytes, %v", len(got), err)
	}
	resp, err := http.Get(srv.URL + "/support/bundles")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Bundles []Bundle }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Bundles) != 1 || list.Bundles[0].Ticket != "123456" || list.Bundles[0].Account != "100200300" {
		t.Fatalf("list = %+v", list.Bundles)
	}
}

func TestRefusesWhatIsNotABundle(t *testing.T) {
	desk, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(desk.Handler())
	defer srv.Close()
	for name, c := range map[string]struct {
		ticket string
		body   []byte
		want   int
	}{
		"path in the ticket": {"../../etc", gz(t, "x"), http.StatusBadRequest},
		"no ticket":          {"", gz(t, "x"), http.StatusBadRequest},
		"not gzip":           {"42", []byte("plain text"), http.StatusUnsupportedMediaType},
	} {
		if resp := post(t, srv.URL, c.ticket, c.body); resp.StatusCode != c.want {
			t.Errorf("%s: %s, want %d", name, resp.Status, c.want)
		}
	}
}
