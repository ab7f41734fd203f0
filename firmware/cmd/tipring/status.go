package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
)

// apiFlags are the flags every command that talks to the running firmware
// takes: the configuration file tells where the API listens and its password.
type apiFlags struct {
	config   *string
	url      *string
	password *string
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		config:   fs.String("config", "/etc/tipring/tipring.toml", "configuration file (for the API address and password)"),
		url:      fs.String("api", "", "management API base URL (default: from the configuration)"),
		password: fs.String("password", "", "admin password (default: from the configuration)"),
	}
}

func (f apiFlags) client() (*api.Client, error) {
	url, pass := *f.url, *f.password
	if url == "" || pass == "" {
		cfg, err := config.Load(*f.config)
		if err != nil {
			return nil, err
		}
		if url == "" {
			url = "http://" + cfg.Admin.Listen
		}
		if pass == "" {
			pass = cfg.Admin.Password
		}
	}
	return api.NewClient(url, pass, nil), nil
}

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := addAPIFlags(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(stdout, "tipring %s on board %s, region %s, up %s\n", st.Version, st.Board, st.Region,
		(time.Duration(st.UptimeSeconds) * time.Second).String())
	if st.GhostRejected > 0 {
		fmt.Fprintf(stdout, "refused %d SIP requests from unknown sources (scanners)\n", st.GhostRejected)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tUSER\tREGISTERED\tSERVER\tLAST\tHOOK\tSTATE\tREMOTE\tLAST CAUSE")
	for _, l := range st.Lines {
		reg := "no"
		if l.Registered {
			reg = "yes"
		}
		last := fmt.Sprintf("%d %s", l.LastCode, l.LastReason)
		if l.LastCode == 0 {
			last = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Port, l.User, reg, dash(l.Server), last, l.Hook, l.CallState, dash(l.Remote), dash(l.LastCause))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
