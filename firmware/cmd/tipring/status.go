package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tipring/tipring/firmware/api"
	"github.com/tipring/tipring/firmware/config"
)

// apiCommand is a command that talks to the running firmware. Its flags
// say where the API listens and the password (from the configuration file
// unless given), and whether to print the raw JSON.
type apiCommand struct {
	fs       *flag.FlagSet
	config   *string
	url      *string
	password *string
	json     *bool
}

// newAPICommand makes the flag set; the caller may add its own flags
// before parse.
func newAPICommand(name, jsonHelp string, stderr io.Writer) *apiCommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &apiCommand{
		fs:       fs,
		config:   fs.String("config", "/etc/tipring/tipring.toml", "configuration file (for the API address and password)"),
		url:      fs.String("api", "", "management API base URL (default: from the configuration)"),
		password: fs.String("password", "", "admin password (default: from the configuration)"),
		json:     fs.Bool("json", false, jsonHelp),
	}
}

// parse reads the flags and returns a client for the API.
func (c *apiCommand) parse(args []string) (*api.Client, error) {
	if err := c.fs.Parse(args); err != nil {
		return nil, err
	}
	return c.client()
}

// client is the API client the parsed flags (or the configuration) name,
// for a command that parsed its flags itself.
func (c *apiCommand) client() (*api.Client, error) {
	url, pass := *c.url, *c.password
	if url == "" || pass == "" {
		cfg, err := config.Load(*c.config)
		if err != nil {
			return nil, err
		}
		if url == "" {
			url = "http://" + cfg.Admin.Listen
		}
		if pass == "" {
			pass = adminPassword(cfg)
		}
	}
	return api.NewClient(url, pass, nil), nil
}

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newAPICommand("status", "print the raw JSON", stderr)
	c, err := cmd.parse(args)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *cmd.json {
		return writeJSONOut(stdout, st)
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
