package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/device"
)

// resetCmd is the factory reset: through the running firmware's API, or
// with --offline on the files when it is not running.
func resetCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newAPICommand("reset", "print the raw JSON", stderr)
	yes := cmd.fs.Bool("yes", false, "really erase the configuration (required)")
	offline := cmd.fs.Bool("offline", false, "reset the files directly; only while tipring is not running")
	data := cmd.fs.String("data", "", "data directory for --offline (default: the configuration's data_dir)")
	if err := cmd.fs.Parse(args); err != nil {
		return err
	}
	if !*yes {
		return usageErr("a factory reset erases the configuration and the delivered call history: add --yes")
	}
	if *offline {
		dir := *data
		if dir == "" {
			dir = defaultDataDir
			if cfg, err := config.Load(*cmd.config); err == nil {
				dir = cfg.Device.DataDir
			}
		}
		kept, err := device.ResetOffline(dir, *cmd.config, newLogger(stderr, "info"))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "factory reset: %s removed; %d calls kept until the back end acknowledges them; the next start provisions the device\n", *cmd.config, kept)
		return nil
	}
	c, err := cmd.client()
	if err != nil {
		return err
	}
	res, err := c.Reset(ctx)
	if err != nil {
		return err
	}
	if *cmd.json {
		return writeJSONOut(stdout, res)
	}
	fmt.Fprintf(stdout, "%s; %d calls kept until the back end acknowledges them\n", res.Message, res.KeptCalls)
	return nil
}
