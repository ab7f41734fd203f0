package peers

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadNetstring(t *testing.T) {
	r := bufio.NewReader(strings.NewReader(`5:hello,0:,11:{"event":1},`))
	for _, want := range []string{"hello", "", `{"event":1}`} {
		got, err := readNetstring(r, 100)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if _, err := readNetstring(r, 100); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want EOF", err)
	}
}

func TestReadNetstringErrors(t *testing.T) {
	for in, want := range map[string]string{
		"5:hello;":   "not followed by ','",
		"x:":         "unexpected byte",
		":abc,":      "empty length",
		"05:hello,":  "leading zero",
		"999999:abc": "exceeds",
		"5:hel":      "body",
	} {
		_, err := readNetstring(bufio.NewReader(strings.NewReader(in)), 1000)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func FuzzReadNetstring(f *testing.F) {
	f.Add([]byte(`5:hello,`))
	f.Add([]byte(`47:{"response":true,"ok":true,"data":"","token":"t1"},`))
	f.Add([]byte("0:,"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			msg, err := readNetstring(r, 1<<16)
			if err != nil {
				return
			}
			if len(msg) > 1<<16 {
				t.Fatalf("message of %d bytes passed the limit", len(msg))
			}
		}
	})
}

func TestBaresipAccountLine(t *testing.T) {
	got := baresipAccount("sip:1002@tipring.test", BaresipOptions{User: "1002", Password: "pw"})
	if !strings.Contains(got, ";regint=0") || !strings.Contains(got, "answermode=manual") {
		t.Errorf("no registrar: %q", got)
	}
}
