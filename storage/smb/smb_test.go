package smb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/smb"
	"github.com/backupbot/backupbot/storage/smb/smbtest"
)

// TestConformance runs the backend contract against the test Samba server.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return smbtest.New(t) })
}

func TestWrongPasswordIsACredentialsError(t *testing.T) {
	srv := smbtest.Env(t)
	opts := srv.Options(smbtest.UniqueDir(t))
	opts.Password = "not-the-password"
	_, err := smb.New(context.Background(), opts)
	if !errors.Is(err, backend.ErrCredentials) || !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("New with a wrong password = %v; want a permanent credentials error", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestMissingShareIsNamed(t *testing.T) {
	srv := smbtest.Env(t)
	opts := srv.Options("x")
	opts.Share = "no-such-share"
	_, err := smb.New(context.Background(), opts)
	if !errors.Is(err, backend.ErrPermanent) || !strings.Contains(err.Error(), "no-such-share") {
		t.Fatalf("New on a missing share = %v; want a permanent error naming the share", err)
	}
}

func TestParseLocation(t *testing.T) {
	cases := []struct {
		in   string
		port int
		want smb.Location
	}{
		{`\\nas\backups\aitherzero`, 0, smb.Location{Host: "nas", Share: "backups", Dir: "aitherzero"}},
		{`\\127.0.0.1\share\repo`, 14445, smb.Location{Host: "127.0.0.1", Port: 14445, Share: "share", Dir: "repo"}},
		{`smb://nas:1445/backups/a/b/`, 0, smb.Location{Host: "nas", Port: 1445, Share: "backups", Dir: "a/b"}},
		{`smb://nas/backups`, 445, smb.Location{Host: "nas", Port: 445, Share: "backups"}},
		{`//nas/backups/x`, 0, smb.Location{Host: "nas", Share: "backups", Dir: "x"}},
	}
	for _, c := range cases {
		got, err := smb.ParseLocation(c.in, c.port)
		if err != nil || got != c.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`\\nas`, `smb://nas/`, `smb://user:pw@nas/share`, `\\nas\share\..\x`, `smb://nas:99999/s`, `/srv/backups`} {
		if _, err := smb.ParseLocation(bad, 0); err == nil {
			t.Errorf("ParseLocation(%q) succeeded; want an error", bad)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("ParseLocation(%q) error shows the password: %v", bad, err)
		}
	}
}

// TestPutRecreatesARemovedDirectory: a directory removed on the server
// after the backend wrote into it is made again by the next Put.
func TestPutRecreatesARemovedDirectory(t *testing.T) {
	srv := smbtest.Env(t)
	dir := smbtest.UniqueDir(t)
	b, err := smb.New(context.Background(), srv.Options(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t.Cleanup(func() { smbtest.Remove(t, srv, dir) })
	ctx := context.Background()
	if err := b.Put(ctx, "data/ab/one", strings.NewReader("1"), 1); err != nil {
		t.Fatal(err)
	}
	if err := smb.RemoveAll(ctx, srv.Options(dir+"/data")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "data/ab/two", strings.NewReader("22"), 2); err != nil {
		t.Fatalf("Put after its directory was removed: %v", err)
	}
	if info, err := b.Stat(ctx, "data/ab/two"); err != nil || info.Size != 2 {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}
