package dbdump

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/config"
)

func TestToolFor(t *testing.T) {
	t.Setenv("DB_PW", "hunter2")
	for _, tc := range []struct {
		name       string
		db         config.Database
		consistent bool
		program    []string // any of
		args       []string // must contain
		env        string
		err        string
	}{
		{name: "postgres", db: config.Database{Type: "postgres", Name: "app", Host: "db", Port: 5433, User: "bk", PasswordEnv: "DB_PW"},
			program: []string{"pg_dump"}, args: []string{"--format=custom", "--host=db", "--port=5433", "--username=bk", "--dbname=app"}, env: "PGPASSWORD=hunter2"},
		{name: "mariadb consistent", db: config.Database{Type: "mariadb", Name: "shop", User: "bk", PasswordEnv: "DB_PW"}, consistent: true,
			program: []string{"mariadb-dump", "mysqldump"}, args: []string{"--single-transaction", "--user=bk", "--databases", "shop"}, env: "MYSQL_PWD=hunter2"},
		{name: "no password env", db: config.Database{Type: "postgres", Name: "app", PasswordEnv: "NOT_SET_ANYWHERE"}, err: "NOT_SET_ANYWHERE"},
		{name: "unknown type", db: config.Database{Type: "oracle", Name: "x"}, err: `type "oracle" is not supported`},
		{name: "no name", db: config.Database{Type: "postgres"}, err: "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool, err := For(tc.db, tc.consistent)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.program, tool.Program) {
				t.Errorf("program %q, want one of %v", tool.Program, tc.program)
			}
			for _, a := range tc.args {
				if !slices.Contains(tool.Args, a) {
					t.Errorf("args %v lack %q", tool.Args, a)
				}
			}
			if strings.Contains(strings.Join(tool.Args, " "), "hunter2") {
				t.Error("the password is on the command line")
			}
			if !slices.Contains(tool.Env, tc.env) {
				t.Errorf("env %v lacks the password variable", tool.Env)
			}
		})
	}
}

func TestRunReportsToolFailureWithoutThePassword(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-dump")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'connection to server failed: FATAL: password authentication failed' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tool := Tool{Program: script, Env: []string{"PGPASSWORD=hunter2"}}
	err := tool.Run(context.Background(), filepath.Join(dir, "out.dump"))
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Run error %v: want the tool's own message and no password", err)
	}
	missing := Tool{Program: filepath.Join(dir, "no-such-dump")}
	if err := missing.Run(context.Background(), filepath.Join(dir, "out2.dump")); err == nil {
		t.Error("running a missing tool succeeded")
	}
}
