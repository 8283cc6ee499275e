// Package dbdump dumps a configured database to a file with the database's
// own tool (pg_dump for PostgreSQL, mariadb-dump or mysqldump for
// MariaDB/MySQL), for `/backup snapshot --resource database`. The password
// is passed to the tool through its environment (PGPASSWORD, MYSQL_PWD),
// never on the command line, and never appears in errors.
//
// Restoring a dump: a PostgreSQL dump is pg_dump's custom format
// (`pg_restore --no-owner -d NEWDB FILE`); a MariaDB dump is plain SQL
// without CREATE DATABASE or USE, so it loads into whichever database the
// restorer names (`mariadb NEWDB < FILE`) and never over the original.
package dbdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/backupbot/backupbot/config"
)

// Tool is a dump program and how to run it for one database.
type Tool struct {
	// Program is the executable (looked up in PATH).
	Program string
	Args    []string
	// Env holds extra environment entries (the password); never log it.
	Env []string
	// Ext is the dump file's extension.
	Ext string
}

// For returns the tool that dumps db. consistent asks for a
// transactionally consistent dump: pg_dump always is (it dumps one MVCC
// snapshot); for MariaDB it adds --single-transaction (InnoDB tables).
func For(db config.Database, consistent bool) (Tool, error) {
	if db.Name == "" {
		return Tool{}, errors.New("database has no name: set name: in the config")
	}
	var pw string
	if db.PasswordEnv != "" {
		v, ok := os.LookupEnv(db.PasswordEnv)
		if !ok {
			return Tool{}, fmt.Errorf("database %s: the environment variable %s named by password_env is not set", db.Name, db.PasswordEnv)
		}
		pw = v
	}
	var (
		t      Tool
		user   string   // the tool's option for the user name
		pwEnv  string   // the environment variable it reads the password from
		dbArgs []string // how it is told the database, last
	)
	switch strings.ToLower(db.Type) {
	case "postgres", "postgresql", "pg":
		t = Tool{Program: "pg_dump", Ext: ".pgdump", Args: []string{"--format=custom", "--no-password"}}
		user, pwEnv, dbArgs = "--username=", "PGPASSWORD", []string{"--dbname=" + db.Name}
	case "mariadb", "mysql":
		prog := "mariadb-dump"
		if _, err := exec.LookPath(prog); err != nil {
			prog = "mysqldump"
		}
		t = Tool{Program: prog, Ext: ".sql", Args: []string{"--routines", "--triggers", "--events"}}
		if consistent {
			t.Args = append(t.Args, "--single-transaction")
		}
		// The name alone (not --databases NAME): the dump then holds no
		// CREATE DATABASE/USE, so loading it into a fresh database cannot
		// overwrite the original. "--" keeps a name starting with "-"
		// from being read as an option.
		user, pwEnv, dbArgs = "--user=", "MYSQL_PWD", []string{"--", db.Name}
	default:
		return Tool{}, fmt.Errorf("database %s: type %q is not supported: use postgres or mariadb", db.Name, db.Type)
	}
	if db.Host != "" {
		t.Args = append(t.Args, "--host="+db.Host)
	}
	if db.Port != 0 {
		t.Args = append(t.Args, "--port="+strconv.Itoa(db.Port))
	}
	if db.User != "" {
		t.Args = append(t.Args, user+db.User)
	}
	t.Args = append(t.Args, dbArgs...)
	if pw != "" {
		t.Env = append(t.Env, pwEnv+"="+pw)
	}
	return t, nil
}

// ErrRejected marks a dump the server refused: wrong password, unknown
// user or database, missing privileges. Running it again cannot succeed
// until someone changes the config or the server.
var ErrRejected = errors.New("the database server refused the dump")

// rejections are what pg_dump and mariadb-dump print when the server
// refuses (as opposed to being unreachable or failing midway).
var rejections = []string{
	"password authentication failed",
	"no password supplied",
	"does not exist", // role or database (PostgreSQL)
	"no pg_hba.conf entry",
	"permission denied",
	"access denied for user",
	"unknown database",
}

// Run writes the dump to path (created or truncated). On failure the error
// carries the tool's last lines of stderr (which never hold the password:
// it is only in the environment), and wraps ErrRejected when the server
// refused the credentials, the database or the privileges.
func (t Tool) Run(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create dump file: %w", err)
	}
	cmd := exec.CommandContext(ctx, t.Program, t.Args...)
	cmd.Env = append(os.Environ(), t.Env...)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	closeErr := f.Close()
	if runErr != nil {
		msg := strings.TrimSpace(lastLines(stderr.String(), 5))
		if errors.Is(runErr, exec.ErrNotFound) || errors.Is(runErr, os.ErrNotExist) {
			return fmt.Errorf("%s is not installed on this worker: install it (Debian: postgresql-client or mariadb-client): %w", t.Program, runErr)
		}
		if rejected(msg) {
			return fmt.Errorf("%s failed: %s: %w (%w)", t.Program, msg, ErrRejected, runErr)
		}
		if msg != "" {
			return fmt.Errorf("%s failed: %s: %w", t.Program, msg, runErr)
		}
		return fmt.Errorf("%s failed: %w", t.Program, runErr)
	}
	if closeErr != nil {
		return fmt.Errorf("write dump file: %w", closeErr)
	}
	return nil
}

func rejected(stderr string) bool {
	low := strings.ToLower(stderr)
	for _, r := range rejections {
		if strings.Contains(low, r) {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
