package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tipring/tipring/boards/sim"
	"github.com/tipring/tipring/firmware/config"
)

const phoneUsage = `usage: tipring phone [--control ADDR | --config FILE] PORT ACTION [ARGS]

actions:
  offhook               lift the handset
  onhook                hang up
  flash [MS]            hook flash (default 500 ms)
  dial DIGITS [pulse]   dial by DTMF audio (or by hook pulses)
  send HZ [MS] [DBM0]   speak a tone into the line (default 2000 ms, -10 dBm0)
  send FILE.wav         speak a WAV file (8 kHz, 16-bit, mono)
  state                 what the phone hears and shows (JSON)
  wait STATE [SECONDS]  wait until the phone hears STATE (dial, ringback, tone...) or rings (ringing)
  heard FILE [MS]       save what the phone heard in the last MS (default 5000) as WAV`

func phoneCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("phone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, phoneUsage) }
	control := fs.String("control", "", "the sim board's control API address (default: [sim] control from the configuration)")
	cfgPath := fs.String("config", "", "configuration file to read [sim] control from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return usageErr("need PORT and ACTION\n%s", phoneUsage)
	}
	port, err := strconv.Atoi(rest[0])
	if err != nil || port < 1 {
		return usageErr("PORT must be a port number like 1, got %q", rest[0])
	}
	addr := *control
	if addr == "" {
		addr = config.Defaults().Sim.Control
		if *cfgPath != "" {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				return err
			}
			addr = cfg.Sim.Control
		}
	}
	c := sim.NewClient("http://"+addr, nil)
	action, params := rest[1], rest[2:]
	switch action {
	case "offhook", "onhook":
		return c.Hook(ctx, port, action == "offhook")
	case "flash":
		ms := 500
		if len(params) > 0 {
			if ms, err = strconv.Atoi(params[0]); err != nil {
				return usageErr("flash MS: %q is not a number", params[0])
			}
		}
		return c.Flash(ctx, port, ms)
	case "dial":
		if len(params) == 0 {
			return usageErr("dial needs DIGITS")
		}
		mode := "dtmf"
		if len(params) > 1 {
			mode = params[1]
		}
		return c.Dial(ctx, port, params[0], mode)
	case "send":
		return phoneSend(ctx, c, port, params)
	case "state":
		st, err := c.Phone(ctx, port)
		if err != nil {
			return err
		}
		return writeJSONOut(stdout, st)
	case "wait":
		return phoneWait(ctx, c, port, params, stdout)
	case "heard":
		if len(params) == 0 {
			return usageErr("heard needs FILE")
		}
		ms := 5000
		if len(params) > 1 {
			if ms, err = strconv.Atoi(params[1]); err != nil {
				return usageErr("heard MS: %q is not a number", params[1])
			}
		}
		wav, err := c.Heard(ctx, port, ms)
		if err != nil {
			return err
		}
		return os.WriteFile(params[0], wav, 0o644)
	}
	return usageErr("unknown action %q\n%s", action, phoneUsage)
}

func phoneSend(ctx context.Context, c *sim.Client, port int, params []string) error {
	if len(params) == 0 {
		return usageErr("send needs HZ or FILE.wav")
	}
	if strings.HasSuffix(strings.ToLower(params[0]), ".wav") {
		wav, err := os.ReadFile(params[0])
		if err != nil {
			return err
		}
		return c.SendWAV(ctx, port, wav)
	}
	hz, err := strconv.ParseFloat(params[0], 64)
	if err != nil {
		return usageErr("send HZ: %q is not a number", params[0])
	}
	ms, level := 2000, -10.0
	if len(params) > 1 {
		if ms, err = strconv.Atoi(params[1]); err != nil {
			return usageErr("send MS: %q is not a number", params[1])
		}
	}
	if len(params) > 2 {
		if level, err = strconv.ParseFloat(params[2], 64); err != nil {
			return usageErr("send DBM0: %q is not a number", params[2])
		}
	}
	return c.SendTone(ctx, port, hz, ms, level)
}

func phoneWait(ctx context.Context, c *sim.Client, port int, params []string, stdout io.Writer) error {
	if len(params) == 0 {
		return usageErr("wait needs STATE")
	}
	want := params[0]
	secs := 10.0
	if len(params) > 1 {
		var err error
		if secs, err = strconv.ParseFloat(params[1], 64); err != nil {
			return usageErr("wait SECONDS: %q is not a number", params[1])
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs*float64(time.Second)))
	defer cancel()
	st, err := c.WaitFor(ctx, port, func(s sim.PhoneState) bool {
		if want == "ringing" {
			return s.Ringing
		}
		return s.Hearing == want
	})
	if err != nil {
		return fmt.Errorf("phone %d did not get to %q: %w (last: hearing %q)", port, want, err, st.Hearing)
	}
	fmt.Fprintf(stdout, "phone %d: %s\n", port, want)
	return nil
}
