// Command fidelity compares what backupctl and restic keep of every file
// kind (`BENCH_ONLY=fidelity make bench`, as root): it builds the
// fidelity tree of storage/engine/enginetest/fidelity, backs it up and
// restores it with --to (restic: restore --target) with each tool, and
// prints one row per property, kept or LOST. It exits 1 when backupctl
// loses anything.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

func main() {
	backupctl := flag.String("backupctl", "bin/backupctl", "the backupctl binary")
	restic := flag.String("restic", "restic", "the restic binary")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	if err := run(*backupctl, *restic, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "fidelity:", err)
		os.Exit(1)
	}
}

func run(backupctl, restic string, keep bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (device nodes, foreign owners, trusted xattrs)")
	}
	bin, err := filepath.Abs(backupctl)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "backupbot-fidelity-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	src, err := fidelity.Make(work)
	if err != nil {
		return fmt.Errorf("making the tree: %w", err)
	}
	cfg := filepath.Join(work, "backupbot.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "storages:\n  bench: {type: local, path: %s/repo-backupctl}\ntargets:\n  fid: {paths: [%s]}\n", work, src), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "BACKUPBOT_REPO_PASSWORD=fidelity-pw", "RESTIC_PASSWORD=fidelity-pw",
		"RESTIC_REPOSITORY="+filepath.Join(work, "repo-restic"), "RESTIC_CACHE_DIR="+filepath.Join(work, "cache"))
	results := map[string][]fidelity.Check{}
	steps := map[string][][]string{
		"backupctl": {
			{bin, "--config", cfg, "create", "--type", "full", "--target", "fid", "--storage", "bench"},
			{bin, "--config", cfg, "restore", "--name", "latest", "--target", "fid", "--storage", "bench", "--to", filepath.Join(work, "restore-backupctl")},
		},
		"restic": {
			{restic, "init", "-q"},
			{restic, "backup", "-q", src},
			{restic, "restore", "-q", "latest", "--target", filepath.Join(work, "restore-restic")},
		},
	}
	tools := []string{"backupctl", "restic"}
	for _, tool := range tools {
		for _, argv := range steps[tool] {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			fmt.Printf("$ %s %s\n", tool, strings.Join(argv[1:], " "))
			if len(out) > 0 {
				fmt.Printf("%s", indent(string(out)))
			}
			if err != nil {
				fmt.Printf("  (%v)\n", err)
			}
		}
		results[tool] = fidelity.Compare(src, filepath.Join(work, "restore-"+tool, src))
	}
	fmt.Println()
	fmt.Print(fidelity.Table(tools, results))
	for _, c := range results["backupctl"] {
		if !c.OK {
			return fmt.Errorf("backupctl lost %s", c.Name)
		}
	}
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if len(l) > 200 {
			l = l[:200] + "…"
		}
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
