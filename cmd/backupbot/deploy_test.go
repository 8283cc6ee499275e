package main

import (
	"path/filepath"
	"testing"

	"github.com/backupbot/backupbot/config"
)

// The configuration files shipped in deploy/ load with the service's own
// loader, policy included (scripts/deploycheck.sh validates the rest of deploy/
// with docker compose, kubectl kustomize and systemd-analyze).
func TestDeployConfigsLoad(t *testing.T) {
	for _, f := range []string{"deploy/compose/backupbot.yaml", "deploy/k8s/base/backupbot.yaml", "deploy/config.example.yaml"} {
		path := filepath.Join("..", "..", f)
		snap, err := config.LoadSnapshot(path)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(snap.File.Storages) == 0 || len(snap.File.Targets) == 0 {
			t.Errorf("%s: no storage or no target", f)
		}
	}
	// The compose and Kubernetes configs keep the repository on object
	// storage: every worker must write to the same one.
	for _, f := range []string{"deploy/compose/backupbot.yaml", "deploy/k8s/base/backupbot.yaml"} {
		cfg, err := config.Load(filepath.Join("..", "..", f))
		if err != nil {
			continue
		}
		for name, s := range cfg.Storages {
			if s.Type != "s3" && s.Type != "azure" {
				t.Errorf("%s: storage %s is %s, which each worker container would keep to itself", f, name, s.Type)
			}
		}
	}
}
