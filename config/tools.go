package config

import (
	"os/exec"

	"github.com/backupbot/backupbot/commands"
)

// SevenZip returns the 7z program that export --format 7z runs (7z from
// Debian's p7zip-full, or 7zz / 7za from 7zip), or "" when this machine has
// none. Go has no well-kept 7z writer, so 7z archives come from it.
func SevenZip() string {
	for _, name := range []string{"7z", "7zz", "7za"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// missingExportFormats are the export formats this machine cannot write.
func missingExportFormats() map[commands.ExportFormat]string {
	if SevenZip() == "" {
		return map[commands.ExportFormat]string{
			commands.Format7z: "it needs the 7z program (Debian package p7zip-full or 7zip), which this machine lacks",
		}
	}
	return nil
}
