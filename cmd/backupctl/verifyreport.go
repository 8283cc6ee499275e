package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// writeVerifyReport writes verify --report's report into the working
// directory: verify-report-STORAGE-TIME.md (Markdown), and with --json also
// the .json next to it. It returns the paths written.
func writeVerifyReport(c *commands.Verify, storageName, location string, rep *engine.VerifyReport, asJSON bool, now time.Time) ([]string, error) {
	base := fmt.Sprintf("verify-report-%s-%s", storageName, now.UTC().Format("20060102-150405"))
	kind := "quick"
	if c.Deep {
		kind = "deep"
	}
	scope := "all backups"
	if c.Name != "" {
		scope = "backup " + c.Name
	}
	status := "✅ no problems found"
	if !rep.OK() {
		status = fmt.Sprintf("❌ %d problems", len(rep.Problems))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Verification report: %s\n\n", storageName)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	for _, row := range [][2]string{
		{"Result", status},
		{"Storage", fmt.Sprintf("%s (`%s`)", storageName, location)},
		{"Checked", fmt.Sprintf("%s, %s verification", scope, kind)},
		{"When", now.UTC().Format(time.RFC3339)},
		{"Snapshots", fmt.Sprint(rep.Snapshots)},
		{"Packs", fmt.Sprint(rep.Packs)},
		{"Chunk references", fmt.Sprint(rep.Chunks)},
		{"Bytes read and checked", humanBytes(rep.BytesVerified)},
		{"Unreferenced packs", fmt.Sprint(rep.Unreferenced)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], strings.ReplaceAll(row[1], "|", `\|`))
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	var problems []string
	for _, p := range rep.Problems {
		problems = append(problems, describeProblem(p))
	}
	section("Problems", problems)
	section("Stale locks (verify --fix removes them)", rep.StaleLocks)
	section("Fixed", rep.Fixed)
	paths := []string{base + ".md"}
	if err := os.WriteFile(paths[0], []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("write the report %s: %w", paths[0], err)
	}
	if asJSON {
		data, err := json.MarshalIndent(map[string]any{
			"storage": storageName, "location": location, "time": now.UTC(), "deep": c.Deep, "name": c.Name, "all": c.All,
			"ok": rep.OK(), "report": rep,
		}, "", "  ")
		if err != nil {
			return nil, err
		}
		paths = append(paths, base+".json")
		if err := os.WriteFile(paths[1], append(data, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("write the report %s: %w", paths[1], err)
		}
	}
	return paths, nil
}
