// Package smbtest gives tests a backend on the test-owned Samba server that
// `make test` starts (scripts/services/samba.sh): each call makes a new,
// uniquely named directory in the share and removes it when the test ends.
package smbtest

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/smb"
)

// Server is the address, share and test account of the test Samba server.
type Server struct {
	Host           string
	Port           int
	Share          string
	User, Password string
}

// Env reads the server from BACKUPBOT_TEST_SMB_*; it fails the test with
// instructions when they are unset.
func Env(t testing.TB) Server {
	t.Helper()
	addr := os.Getenv("BACKUPBOT_TEST_SMB_ADDR")
	s := Server{
		Share:    os.Getenv("BACKUPBOT_TEST_SMB_SHARE"),
		User:     os.Getenv("BACKUPBOT_TEST_SMB_USER"),
		Password: os.Getenv("BACKUPBOT_TEST_SMB_PASSWORD"),
	}
	if addr == "" || s.Share == "" || s.User == "" {
		t.Fatal("BACKUPBOT_TEST_SMB_ADDR (and _SHARE, _USER, _PASSWORD) are unset: run `make test`, which starts a test-owned Samba server " +
			"(or run `eval \"$(bash scripts/services/samba.sh start)\"` first)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("BACKUPBOT_TEST_SMB_ADDR=%q: %v", addr, err)
	}
	s.Host = host
	if s.Port, err = strconv.Atoi(port); err != nil {
		t.Fatalf("BACKUPBOT_TEST_SMB_ADDR=%q: %v", addr, err)
	}
	return s
}

// UniqueDir returns a fresh directory name for one test.
func UniqueDir(t testing.TB) string { return backendtest.UniqueName() }

// Options returns the server's options for directory dir of the share.
func (s Server) Options(dir string) smb.Options {
	return smb.Options{
		Location: smb.Location{Host: s.Host, Port: s.Port, Share: s.Share, Dir: dir},
		User:     s.User, Password: s.Password,
	}
}

// New opens a backend on a new directory of the share that is removed with its contents when the test ends.
func New(t testing.TB) *smb.Backend {
	t.Helper()
	srv := Env(t)
	dir := UniqueDir(t)
	b, err := smb.New(context.Background(), srv.Options(dir))
	if err != nil {
		t.Fatalf("connecting to the test Samba server: %v", err)
	}
	t.Cleanup(func() { Remove(t, srv, dir) })
	return b
}

// Remove deletes dir and everything under it from the share.
func Remove(t testing.TB, srv Server, dir string) {
	t.Helper()
	if err := smb.RemoveAll(context.Background(), srv.Options(dir)); err != nil {
		t.Errorf("removing %s from the test share: %v", dir, err)
	}
}
