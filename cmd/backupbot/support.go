package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
)

// terminalWidth is the width of w when it is a terminal, else 0.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

func progressOf(p jobs.Progress) string { return render.Progress(p) }

// seedDefaultTargets gives the embedded default targets something to back
// up on a fresh machine: a missing target directory is created with a
// short README, so `make run` followed by `/backup create --target data`
// works at once. Configured (non-default) targets are never touched.
func seedDefaultTargets(cfg *config.File, logger *slog.Logger) {
	created, err := cfg.SeedDefaultTargets()
	for _, p := range created {
		logger.Info("created the default target directory with a README", "path", p)
	}
	if err != nil {
		logger.Warn("could not create a default target directory", "err", err)
	}
}

// useGeneratedPassword gives the embedded defaults' storages the generated
// repository password file (unless the environment names a password) and
// says where it is and that it must be kept: in the log and on the console.
func useGeneratedPassword(cfg *config.File, logger *slog.Logger, console io.Writer) error {
	g, err := cfg.UseGeneratedPassword()
	if err != nil {
		return err
	}
	if g.Path == "" {
		return nil
	}
	logger.Warn(g.Message(), "password_file", g.Path, "generated_now", g.Created)
	fmt.Fprintf(console, "🔑 %s\n", g.Message())
	return nil
}
