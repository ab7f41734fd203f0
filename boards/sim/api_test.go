package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tipring/tipring/boards/dsp"
)

// raw sends a request to the control API without the client's help.
func (r *rig) raw(method, path, contentType, body string) (int, string, http.Header) {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.ctx, method, "http://"+r.board.ControlAddr()+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.hc.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

func TestAPIErrors(t *testing.T) {
	r := newRig(t, "us")
	const js = "application/json"
	r.hook(2, true)
	wav44k := EncodeWAV(make([]int16, 100))
	binary.LittleEndian.PutUint32(wav44k[24:], 44100)
	for _, tc := range []struct {
		name              string
		method, path, ct  string
		body              string
		status            int
		wantInError       string
		wantAllow, noJSON bool
	}{
		{"no such port", "GET", "/v1/phones/3", "", "", 404, "no port 3", false, false},
		{"port 0", "POST", "/v1/phones/0/hook", js, `{"state":"off"}`, 404, "no port 0", false, false},
		{"port not a number", "GET", "/v1/phones/one", "", "", 404, `"one"`, false, false},
		{"no such endpoint", "GET", "/v1/phones/1/volume", "", "", 404, "no such endpoint", false, false},
		{"not the API", "GET", "/", "", "", 404, "no such endpoint", false, false},
		{"wrong method", "DELETE", "/v1/phones/1", "", "", 405, "DELETE", true, false},
		{"GET on an action", "GET", "/v1/phones/1/hook", "", "", 405, "POST", true, false},
		{"bad JSON", "POST", "/v1/phones/1/hook", js, `{"state":`, 400, "JSON", false, false},
		{"not JSON", "POST", "/v1/phones/1/hook", js, `off`, 400, "JSON", false, false},
		{"empty body", "POST", "/v1/phones/1/hook", js, ``, 400, "empty body", false, false},
		{"unknown field", "POST", "/v1/phones/1/hook", js, `{"stat":"off"}`, 400, `unknown field "stat"`, false, false},
		{"wrong type", "POST", "/v1/phones/1/hook", js, `{"state":true}`, 400, "state: got bool", false, false},
		{"bad state", "POST", "/v1/phones/1/hook", js, `{"state":"sideways"}`, 400, `state: "sideways"`, false, false},
		{"missing state", "POST", "/v1/phones/1/hook", js, `{}`, 400, "state: required", false, false},
		{"two objects", "POST", "/v1/phones/1/hook", js, `{"state":"off"}{}`, 400, "after the object", false, false},
		{"XML", "POST", "/v1/phones/1/hook", "application/xml", `<off/>`, 415, "application/json", false, false},
		{"flash on-hook", "POST", "/v1/phones/1/flash", js, ``, 409, "on-hook", false, false},
		{"flash too long", "POST", "/v1/phones/2/flash", js, `{"ms":99999}`, 400, "ms: 99999", false, false},
		{"dial on-hook", "POST", "/v1/phones/1/dial", js, `{"digits":"123"}`, 409, "on-hook", false, false},
		{"dial bad digit", "POST", "/v1/phones/2/dial", js, `{"digits":"12x4"}`, 400, "x", false, false},
		{"dial no digits", "POST", "/v1/phones/2/dial", js, `{"mode":"dtmf"}`, 400, "digits: required", false, false},
		{"pulse star", "POST", "/v1/phones/2/dial", js, `{"digits":"1*","mode":"pulse"}`, 400, `'*' at position 2`, false, false},
		{"bad mode", "POST", "/v1/phones/2/dial", js, `{"digits":"1","mode":"morse"}`, 400, `mode: "morse"`, false, false},
		{"bad level", "POST", "/v1/phones/2/dial", js, `{"digits":"1","level_dbm0":20}`, 400, "level_dbm0: 20", false, false},
		{"level as string", "POST", "/v1/phones/2/dial", js, `{"digits":"1","level_dbm0":"loud"}`, 400, "level_dbm0: got string, want a number", false, false},
		{"ms as string", "POST", "/v1/phones/2/flash", js, `{"ms":"500"}`, 400, "ms: got string, want an integer", false, false},
		{"send on-hook", "POST", "/v1/phones/1/send", js, `{"tone_hz":1004}`, 409, "on-hook", false, false},
		{"send no tone", "POST", "/v1/phones/2/send", js, `{"ms":100}`, 400, "tone_hz", false, false},
		{"send above Nyquist", "POST", "/v1/phones/2/send", js, `{"tone_hz":5000}`, 400, "tone_hz: 5000", false, false},
		{"send text", "POST", "/v1/phones/2/send", "text/plain", `hello`, 415, "text/plain", false, false},
		{"send 44.1 kHz WAV", "POST", "/v1/phones/2/send", "audio/wav", string(wav44k), 415, "44100", false, false},
		{"send garbage WAV", "POST", "/v1/phones/2/send", "audio/wav", "RIFFxxxxWAVEjunk", 400, "truncated", false, false},
		{"send empty WAV", "POST", "/v1/phones/2/send", "audio/wav", string(EncodeWAV(nil)), 400, "no samples", false, false},
		{"heard ms 0", "GET", "/v1/phones/1/heard?ms=0", "", "", 400, "ms", false, false},
		{"heard ms too long", "GET", "/v1/phones/1/heard?ms=20000", "", "", 400, "10000", false, false},
		{"device ren", "POST", "/v1/phones/1/device", js, `{"ren":11}`, 400, "ren: 11", false, false},
		{"device fault", "POST", "/v1/phones/1/device", js, `{"fault":"fire"}`, 400, `fault: unknown fault "fire"`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := r.raw(tc.method, tc.path, tc.ct, tc.body)
			if status != tc.status {
				t.Errorf("status %d, want %d (body %s)", status, tc.status, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Fatalf("answer %q is not a JSON error", body)
			}
			if !strings.Contains(e.Error, tc.wantInError) {
				t.Errorf("error %q does not mention %q", e.Error, tc.wantInError)
			}
			if tc.wantAllow && hdr.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
	// None of that changed anything.
	if st := r.state(1); st.Hook != "on" || st.Device != DefaultDevice() {
		t.Errorf("phone 1 after bad requests: %+v", st)
	}
}

func TestClientSurfacesErrors(t *testing.T) {
	r := newRig(t, "us")
	err := r.client.Dial(r.ctx, 1, "123", "dtmf")
	if apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "on-hook") {
		t.Errorf("Dial on-hook: %v, want a 409 APIError about on-hook", err)
	}
	if _, err := r.client.Phone(r.ctx, 9); apiStatus(err) != http.StatusNotFound {
		t.Errorf("Phone(9): %v, want 404", err)
	}
	if err := NewClient("127.0.0.1:1", r.client.hc).Hook(r.ctx, 1, true); err == nil || apiStatus(err) != 0 {
		t.Errorf("Hook on a closed port: %v, want a transport error", err)
	}
}

func TestPhonesAndState(t *testing.T) {
	r := newRig(t, "us")
	r.hook(2, true)
	r.step(100 * time.Millisecond)
	phones, err := r.client.Phones(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(phones) != 2 || phones[0].Port != 1 || phones[1].Port != 2 {
		t.Fatalf("phones %+v, want ports 1 and 2", phones)
	}
	if phones[0].Hook != "on" || phones[1].Hook != "off" {
		t.Errorf("hooks %q %q, want on off", phones[0].Hook, phones[1].Hook)
	}
	// The JSON carries every documented key, with [] rather than null for
	// lists and null for no caller ID.
	status, body, _ := r.raw("GET", "/v1/phones/1", "", "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"port", "hook", "ringing", "rings", "caller_id", "hearing", "tone_hz", "level_dbm0", "ring_cadence_ms", "polarity", "device"} {
		if _, ok := m[k]; !ok {
			t.Errorf("state has no %q: %s", k, body)
		}
	}
	if string(m["caller_id"]) != "null" || string(m["tone_hz"]) != "[]" || string(m["ring_cadence_ms"]) != "[]" {
		t.Errorf("idle phone: caller_id %s tone_hz %s ring_cadence_ms %s", m["caller_id"], m["tone_hz"], m["ring_cadence_ms"])
	}
	if st := r.state(1); st.Hearing != "silence" || st.LevelDBm0 > -60 {
		t.Errorf("idle phone hears %q at %.1f dBm0", st.Hearing, st.LevelDBm0)
	}
}

func TestDevice(t *testing.T) {
	r := newRig(t, "us")
	if d, err := r.board.Device(1); err != nil || d != DefaultDevice() {
		t.Fatalf("Device(1) = %+v, %v; want the default", d, err)
	}
	want := Device{Attached: true, REN: 3.5, Fault: FaultForeignVoltage}
	if err := r.client.SetDevice(r.ctx, 1, want); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.board.Device(1); d != want {
		t.Errorf("Device(1) = %+v, want %+v", d, want)
	}
	if st := r.state(1); st.Device != want {
		t.Errorf("state device %+v, want %+v", st.Device, want)
	}
	// A partial body changes only what it names.
	if status, body, _ := r.raw("POST", "/v1/phones/1/device", "application/json", `{"attached":false}`); status != 200 {
		t.Fatalf("partial device: %d %s", status, body)
	}
	want.Attached = false
	if d, _ := r.board.Device(1); d != want {
		t.Errorf("after partial update: %+v, want %+v", d, want)
	}
	if d, _ := r.board.Device(2); d != DefaultDevice() {
		t.Errorf("port 2 device changed: %+v", d)
	}
	if _, err := r.board.Device(3); err == nil {
		t.Errorf("Device(3) did not fail")
	}
}

func TestDialRequestCanBeCancelled(t *testing.T) {
	r := newRig(t, "us")
	line := &fakeLine{}
	p := r.board.ports[0]
	p.SetAudio(line.audio)
	r.hook(1, true)
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- r.client.Dial(ctx, 1, "1111111111", "dtmf") }()
	r.waitBusy(1, done)
	// Let the dial start ('1' is 697 + 1209 Hz), then give up on it.
	for i := 0; dsp.ToneLevelDBm0(line.recorded(), 697) < -30; i++ {
		if i > 500 {
			t.Fatal("the phone never started dialling")
		}
		r.step(20 * time.Millisecond)
	}
	cancel()
	<-done
	// The server notices that the request went away and stops dialling.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		dialling := p.phone.micTone
		p.mu.Unlock()
		if !dialling {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the phone kept dialling after the request was cancelled")
		}
		r.step(20 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	line.recorded()
	r.step(300 * time.Millisecond)
	if lvl := dsp.ToneLevelDBm0(line.recorded(), 697); lvl > -40 {
		t.Errorf("697 Hz at %.1f dBm0 after the dial was called off", lvl)
	}
}

func TestSendReplacesSend(t *testing.T) {
	r := newRig(t, "us")
	line := &fakeLine{}
	r.port(1).SetAudio(line.audio)
	r.hook(1, true)
	done := make(chan error, 1)
	go func() { done <- r.client.Send(r.ctx, 1, SendRequest{ToneHz: 500, Ms: 5000, Wait: true}) }()
	r.waitBusy(1, done)
	for i := 0; dsp.ToneLevelDBm0(line.recorded(), 500) < -20; i++ {
		if i > 500 {
			t.Fatal("the phone never started sending")
		}
		r.step(20 * time.Millisecond)
	}
	if err := r.client.SendTone(r.ctx, 1, 1500, 1000, -10); err != nil {
		t.Fatal(err)
	}
	if err := <-done; apiStatus(err) != http.StatusConflict {
		t.Errorf("replaced send: %v, want 409", err)
	}
	r.step(500 * time.Millisecond)
	up := line.recorded()
	if dsp.ToneLevelDBm0(up, 1500) < -12 || dsp.ToneLevelDBm0(up, 500) > -40 {
		t.Errorf("after the second send: 1500 Hz %.1f dBm0, 500 Hz %.1f dBm0", dsp.ToneLevelDBm0(up, 1500), dsp.ToneLevelDBm0(up, 500))
	}
}

func TestWAVBodyRoundTrip(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234}
	got, err := ReadWAV(bytes.NewReader(EncodeWAV(pcm)))
	if err != nil || len(got) != len(pcm) {
		t.Fatalf("ReadWAV(EncodeWAV) = %v, %v", got, err)
	}
	for i := range pcm {
		if got[i] != pcm[i] {
			t.Errorf("sample %d: %d, want %d", i, got[i], pcm[i])
		}
	}
}
