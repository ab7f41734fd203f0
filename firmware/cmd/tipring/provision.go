package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/tipring/tipring/diag/netinfo"
	"github.com/tipring/tipring/firmware/config"
	"github.com/tipring/tipring/firmware/device"
	"github.com/tipring/tipring/firmware/provision"
)

// defaultDataDir is where a device keeps its state before a configuration
// says otherwise; it is config's default [device] data_dir.
const defaultDataDir = "/var/lib/tipring"

// provisionFlags are run's flags for a device without a configuration.
type provisionFlags struct {
	data     *string
	factory  *string
	url      *string
	ca       *string
	insecure *bool
}

func addProvisionFlags(fs *flag.FlagSet) *provisionFlags {
	return &provisionFlags{
		data:     fs.String("data", defaultDataDir, "data directory while there is no configuration (its factory.json names the device)"),
		factory:  fs.String("factory", "", "factory file (default: factory.json in the data directory)"),
		url:      fs.String("provision", "", "provisioning URL (default: the factory file's, else DHCP option 160, else 66)"),
		ca:       fs.String("provision-ca", "", "PEM file of a private CA that signed the provisioning server's certificate"),
		insecure: fs.Bool("provision-insecure", false, "accept a plain http:// provisioning URL to a host other than loopback"),
	}
}

// load returns the configuration at path, first fetching it from the
// provisioning server when there is no such file, with the admin password
// filled in from the factory secret when the file leaves it empty.
func (p *provisionFlags) load(ctx context.Context, path string, log *slog.Logger) (*config.Config, device.ProvisionOptions, error) {
	cfg, err := config.Load(path)
	dataDir := *p.data
	if err == nil {
		dataDir = cfg.Device.DataDir
	}
	// A device whose configuration has what it needs still starts with
	// damaged factory data: only provisioning and a derived password need
	// it, and they say so.
	fac, facErr := provision.LoadFactory(factoryPath(*p.factory, dataDir))
	var facp *provision.Factory
	switch {
	case facErr == nil:
		facp = &fac
	case !errors.Is(facErr, fs.ErrNotExist):
		log.Warn("factory data unusable", "err", facErr)
	}
	mac := fac.MAC
	if mac == "" {
		mac = systemMAC()
	}
	if errors.Is(err, fs.ErrNotExist) {
		if facp == nil && *p.url == "" {
			return nil, device.ProvisionOptions{}, fmt.Errorf("%w; and with no factory data (%v) nor --provision URL there is nothing to provision from", err, facErr)
		}
		cfg, err = p.provision(ctx, path, facp, mac, log)
	}
	if err != nil {
		return nil, device.ProvisionOptions{}, err
	}
	if cfg.Admin.Listen != "" && cfg.Admin.Password == "" {
		if facp == nil {
			return nil, device.ProvisionOptions{}, fmt.Errorf("%s: [admin] password is empty and there is no factory data to derive it from (%v): set one, or write the factory file (scripts/factory)", path, facErr)
		}
		cfg.Admin.Password = facp.AdminPassword()
	}
	po := device.ProvisionOptions{ConfigPath: path, MAC: mac, Factory: facp}
	if cfg.Provision.CA == "" && *p.ca != "" {
		if po.Client, err = provision.Client(*p.ca); err != nil {
			return nil, device.ProvisionOptions{}, err
		}
	}
	return cfg, po, nil
}

// provision waits for a configuration from the provisioning server and
// writes it to path.
func (p *provisionFlags) provision(ctx context.Context, path string, fac *provision.Factory, mac string, log *slog.Logger) (*config.Config, error) {
	hc, err := provision.Client(*p.ca)
	if err != nil {
		return nil, err
	}
	f := &provision.Fetcher{Client: hc, AllowHTTP: *p.insecure, Logger: log}
	if fac != nil && fac.ProvisionKey != "" {
		if f.PublicKey, err = provision.ParsePublicKey(fac.ProvisionKey); err != nil {
			return nil, err
		}
	}
	log.Info("provisioning: no configuration yet", "file", path, "mac", mac)
	loop := &provision.Loop{Fetcher: f, MAC: mac, Logger: log, Find: func(ctx context.Context) (provision.Candidate, bool) {
		var lease *netinfo.Lease
		if *p.url == "" && (fac == nil || fac.ProvisionURL == "") {
			var note string
			lease, note = provision.SystemLease("/")
			log.Debug("provisioning: DHCP lease", "note", note)
		}
		return provision.Discover(*p.url, fac, lease)
	}}
	got, err := loop.Run(ctx)
	if err != nil {
		return nil, err
	}
	if err := provision.WriteConfig(path, got.Data); err != nil {
		return nil, err
	}
	log.Info("provisioning: configuration written", "file", path, "from", got.URL)
	return got.Config, nil
}

func factoryPath(flagPath, dataDir string) string {
	if flagPath != "" {
		return flagPath
	}
	return filepath.Join(dataDir, provision.FactoryFile)
}

// systemMAC is the first Ethernet address of an interface that is up, for
// a device without factory data.
func systemMAC() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 && len(i.HardwareAddr) == 6 {
			m, _ := provision.ParseMAC(i.HardwareAddr.String())
			return m
		}
	}
	return ""
}

// adminPassword is the password the CLI uses: the configuration's, else
// the one derived from the factory file in its data directory.
func adminPassword(cfg *config.Config) string {
	if cfg.Admin.Password != "" {
		return cfg.Admin.Password
	}
	f, err := provision.LoadFactory(filepath.Join(cfg.Device.DataDir, provision.FactoryFile))
	if err != nil {
		return ""
	}
	return f.AdminPassword()
}

func provisionCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("config", "/etc/tipring/tipring.toml", "the configuration file to write; - prints it")
	force := fs.Bool("force", false, "replace an existing configuration file")
	var b provision.Bench
	fs.StringVar(&b.Board, "board", "", "board name (default sim)")
	fs.StringVar(&b.Region, "region", "", "region: us, uk, de (default us)")
	fs.StringVar(&b.DataDir, "data", "", "data directory (default "+defaultDataDir+")")
	var l1, l2 provision.BenchLine
	fs.StringVar(&l1.User, "user", "", "line 1: SIP user")
	fs.StringVar(&l1.Password, "password", "", "line 1: SIP password")
	fs.StringVar(&l1.Registrar, "registrar", "", "line 1: registrar, host or host:port")
	fs.StringVar(&l2.User, "user2", "", "line 2: SIP user (none: one line)")
	fs.StringVar(&l2.Password, "password2", "", "line 2: SIP password")
	fs.StringVar(&l2.Registrar, "registrar2", "", "line 2: registrar (default: line 1's)")
	fs.StringVar(&b.MeterBackend, "meter-backend", "", "billing back end URL")
	fs.StringVar(&b.MeterAccount, "meter-account", "", "prepaid account number")
	fs.StringVar(&b.MeterToken, "meter-token", "", "the device's token at the back end")
	fs.StringVar(&b.AdminListen, "admin-listen", "", "management API address (default 127.0.0.1:8080)")
	fs.StringVar(&b.AdminPassword, "admin-password", "", "admin password (default: derived from the factory secret)")
	fs.StringVar(&b.SimControl, "sim-control", "", "sim board's control address (default 127.0.0.1:7070)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected %q: everything is a flag (tipring provision -h)", fs.Arg(0))
	}
	if l1.User == "" {
		return usageErr("--user, --password and --registrar are needed for line 1")
	}
	b.Lines = []provision.BenchLine{l1}
	if l2.User != "" {
		if l2.Registrar == "" {
			l2.Registrar = l1.Registrar
		}
		b.Lines = append(b.Lines, l2)
	}
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return fmt.Errorf("%s exists; --force replaces it", *out)
	}
	if err := provision.WriteConfig(*out, data); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}
