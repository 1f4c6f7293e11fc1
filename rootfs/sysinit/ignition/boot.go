package ignition

import (
	"context"
	"errors"
	"net/http"
)

// BootOptions are Options plus where configs come from.
type BootOptions struct {
	Root string
	// Sources are tried in order; the first holding a config wins.
	Sources []Source
	// Network waits for the network and returns a client, or nil when
	// the machine has none. Called at most once, only when needed.
	Network func(ctx context.Context) *http.Client
}

// Outcome says what a boot did with the per-machine config.
type Outcome struct {
	SHA256  string // of the config applied now or on an earlier boot
	Source  string // where it came from (applied now)
	Earlier bool   // applied on an earlier boot; nothing done now
	None    bool   // no source held a config
}

// Boot applies the first config found, unless ROOT's marker says one
// was applied before. A machine that boots without any config stays
// unconfigured and takes the first config a later boot finds.
func Boot(ctx context.Context, o BootOptions) (Outcome, error) {
	sha, done, err := Applied(o.Root)
	if err != nil || done {
		return Outcome{SHA256: sha, Earlier: done}, err
	}
	var client *http.Client
	asked := false
	network := func() *http.Client {
		if !asked && o.Network != nil {
			client, asked = o.Network(ctx), true
		}
		return client
	}
	raw, from, err := find(ctx, o.Sources, network)
	if errors.Is(err, errNoConfig) {
		return Outcome{None: true}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Source: from}
	cfg, err := Parse(raw)
	if err != nil {
		return out, err
	}
	out.SHA256 = cfg.SHA256
	opts := Options{Root: o.Root}
	if cfg.needsNetwork() {
		opts.HTTP = network()
	}
	return out, cfg.Apply(ctx, opts)
}

func find(ctx context.Context, sources []Source, network func() *http.Client) ([]byte, string, error) {
	for _, s := range sources {
		var client *http.Client
		if s.NeedsNetwork {
			client = network()
		}
		raw, err := s.Read(ctx, client)
		if err != nil {
			return nil, s.Name, err
		}
		if raw != nil {
			return raw, s.Name, nil
		}
	}
	return nil, "", errNoConfig
}

// needsNetwork: some file comes from http(s).
func (c *Config) needsNetwork() bool {
	for _, f := range c.cfg.Storage.Files {
		if s := f.Contents.Source; s != nil && !isData(*s) {
			return true
		}
	}
	return false
}

func isData(s string) bool { return len(s) >= 5 && s[:5] == "data:" }
