// Package smb is the backend for a repository on an SMB2/3 share (a NAS, a
// Windows server, Samba) reached directly over the network, without a
// mount. Objects are files under one directory of the share named by their
// keys; writes go to a temporary file in the same directory that is renamed
// into place, so a reader never sees a partial object. The SMB client is
// github.com/cloudsoda/go-smb2, the maintained fork of hirochachacha/go-smb2.
package smb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/backupbot/backupbot/storage/backend"
)

// Environment variables that hold the SMB password when the storage names
// no password file.
const (
	EnvPassword     = "BACKUPBOT_SMB_PASSWORD"
	EnvPasswordFile = "BACKUPBOT_SMB_PASSWORD_FILE"
)

// Options locate the share and say who logs on.
type Options struct {
	Location
	// User, Password and Domain log on with NTLM; an empty User logs on as
	// guest (only shares that allow it).
	User     string
	Password string
	Domain   string
	// DialTimeout bounds connecting and logging on (default 15 s).
	DialTimeout time.Duration
}

// Password returns the SMB password: the contents of file when it is set,
// else $BACKUPBOT_SMB_PASSWORD, else the file named by
// $BACKUPBOT_SMB_PASSWORD_FILE, else "". getenv is os.Getenv in production.
func Password(file string, getenv func(string) string) (string, error) {
	if file == "" {
		if pw := getenv(EnvPassword); pw != "" {
			return pw, nil
		}
		file = getenv(EnvPasswordFile)
	}
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the SMB password file %s: %w: %w", file, err, backend.ErrPermanent)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Backend stores objects as files in a directory of an SMB share. It keeps
// one logged-on session and reconnects when the connection breaks.
type Backend struct {
	opts Options
	loc  string

	// dirs remembers directories known to exist, so a Put does not ask
	// the server for every parent again.
	dirs sync.Map

	mu      sync.Mutex
	session *smb2.Session
	share   *smb2.Share
	closed  bool
}

// New connects to the share, logs on and makes sure the repository
// directory exists.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Host == "" || opts.Share == "" {
		return nil, fmt.Errorf("smb storage: no server or share given: set path: smb://host/share/dir in the configuration: %w", backend.ErrPermanent)
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 15 * time.Second
	}
	b := &Backend{opts: opts, loc: opts.Location.String()}
	sh, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	if b.opts.Dir != "" {
		if err := sh.WithContext(ctx).MkdirAll(b.fsPath(b.opts.Dir), 0o700); err != nil {
			_ = b.Close()
			return nil, b.wrap("creating the repository directory", b.opts.Dir, err)
		}
	}
	return b, nil
}

// Location implements backend.Backend: the smb:// URL of the repository.
func (b *Backend) Location() string { return b.loc }

// conn returns the mounted share, dialling and logging on when needed.
func (b *Backend) conn(ctx context.Context) (*smb2.Share, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("%s: the backend is closed", b.loc)
	}
	if b.share != nil {
		return b.share, nil
	}
	dctx, cancel := context.WithTimeout(ctx, b.opts.DialTimeout)
	defer cancel()
	addr := net.JoinHostPort(b.opts.Host, strconv.Itoa(b.opts.Port))
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: b.opts.User, Password: b.opts.Password, Domain: b.opts.Domain}}
	s, err := d.Dial(dctx, addr)
	if err != nil {
		if isAuthError(err) {
			return nil, fmt.Errorf("%s: logging on as %q: %w: %w: %w", b.loc, b.opts.User, err, backend.ErrCredentials, backend.ErrPermanent)
		}
		return nil, fmt.Errorf("%s: connecting to %s: %w", b.loc, addr, err)
	}
	sh, err := s.Mount(b.opts.Share)
	if err != nil {
		_ = s.Logoff()
		if isNotFound(err) || ntStatus(err, statusBadNetworkName) {
			return nil, fmt.Errorf("%s: the server has no share %q: %w: %w: %w", b.loc, b.opts.Share, err, backend.ErrNoContainer, backend.ErrPermanent)
		}
		if isDenied(err) {
			return nil, fmt.Errorf("%s: user %q may not use share %q: %w: %w: %w", b.loc, b.opts.User, b.opts.Share, err, backend.ErrCredentials, backend.ErrPermanent)
		}
		return nil, fmt.Errorf("%s: opening share %q: %w", b.loc, b.opts.Share, err)
	}
	b.session, b.share = s, sh
	return sh, nil
}

// drop forgets a broken connection so the next call dials again.
func (b *Backend) drop(sh *smb2.Share) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.share != sh || sh == nil {
		return
	}
	_ = b.share.Umount()
	_ = b.session.Logoff()
	b.share, b.session = nil, nil
}

// do runs op on the share, once more on a fresh connection when the
// connection broke.
func (b *Backend) do(ctx context.Context, op func(sh *smb2.Share) error) error {
	for attempt := 0; ; attempt++ {
		sh, err := b.conn(ctx)
		if err != nil {
			return err
		}
		err = op(sh.WithContext(ctx))
		var te *smb2.TransportError
		if err != nil && errors.As(err, &te) && ctx.Err() == nil && attempt == 0 {
			b.drop(sh)
			continue
		}
		if err != nil && errors.As(err, &te) {
			b.drop(sh)
		}
		return err
	}
}

// fsPath turns a slash path relative to the share into the share's form.
func (b *Backend) fsPath(p string) string { return strings.ReplaceAll(p, "/", `\`) }

// onFile runs f (operation op) on the share with the path of key's file,
// through do. It refuses keys that would leave the repository directory
// and starts nothing once ctx has ended; f's error comes back wrapped with
// op and key.
func (b *Backend) onFile(ctx context.Context, op, key string, f func(sh *smb2.Share, name string) error) error {
	if err := backend.CheckFileKey(key, `\:*?"<>|`); err != nil {
		return fmt.Errorf("%s: %w", b.loc, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %s %s: %w", b.loc, op, key, err)
	}
	name := path.Join(b.opts.Dir, key)
	if err := b.do(ctx, func(sh *smb2.Share) error { return f(sh, name) }); err != nil {
		return b.wrap(op, key, err)
	}
	return nil
}

// Put implements backend.Backend: the body goes to a temporary file in the
// destination directory, which is renamed over the key.
func (b *Backend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	return b.put(ctx, key, body, size, false)
}

// Create implements backend.Creator. SMB has no rename that refuses an
// existing name in the client, so the name is claimed first with an
// exclusive open (FILE_CREATE, atomic on the server; of two creators
// exactly one wins) and the finished temporary file is then renamed over
// the claimed, still empty, file. A reader can see the key empty for the
// moment between the two steps, never partly written.
func (b *Backend) Create(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	return b.put(ctx, key, body, size, true)
}

func (b *Backend) put(ctx context.Context, key string, body io.ReadSeeker, size int64, exclusive bool) error {
	op := "put"
	if exclusive {
		op = "create"
	}
	return b.onFile(ctx, op, key, func(sh *smb2.Share, name string) error {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewinding the body: %w", err)
		}
		dir := path.Dir(name)
		if _, known := b.dirs.Load(dir); !known && dir != "." {
			if err := sh.MkdirAll(b.fsPath(dir), 0o700); err != nil {
				return err
			}
			b.dirs.Store(dir, true)
		}
		tmp := path.Join(dir, backend.TempName())
		f, err := sh.OpenFile(b.fsPath(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && isNotFound(err) && dir != "." {
			// The directory went away behind our back: make it again.
			b.dirs.Delete(dir)
			if err := sh.MkdirAll(b.fsPath(dir), 0o700); err != nil {
				return err
			}
			f, err = sh.OpenFile(b.fsPath(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
		if err != nil {
			return err
		}
		done := false
		defer func() {
			if !done {
				_ = f.Close()
				_ = sh.WithContext(context.WithoutCancel(ctx)).Remove(b.fsPath(tmp))
			}
		}()
		n, err := io.Copy(f, backend.ContextReader(ctx, body))
		if err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		if size >= 0 && n != size {
			return fmt.Errorf("body had %d bytes, expected %d: %w", n, size, backend.ErrPermanent)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if exclusive {
			claim, err := sh.OpenFile(b.fsPath(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				if isExists(err) {
					return backend.ErrExists
				}
				return err
			}
			if err := claim.Close(); err != nil {
				return err
			}
		}
		if err := sh.Rename(b.fsPath(tmp), b.fsPath(name)); err != nil {
			return err
		}
		done = true
		return nil
	})
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := b.onFile(ctx, "get", key, func(sh *smb2.Share, name string) error {
		f, err := sh.Open(b.fsPath(name))
		if err != nil {
			return err
		}
		rc, err = backend.ReadRange(f, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	var info backend.Info
	err := b.onFile(ctx, "stat", key, func(sh *smb2.Share, name string) error {
		st, err := sh.Stat(b.fsPath(name))
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fs.ErrNotExist
		}
		info = backend.Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}
		return nil
	})
	if err != nil {
		return backend.Info{}, err
	}
	return info, nil
}

// List implements backend.Backend. It reads only the directories that can
// hold keys with the prefix.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	var cbErr error
	err := b.do(ctx, func(sh *smb2.Share) error {
		var walk func(rel string) error
		walk = func(rel string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			entries, err := sh.ReadDir(b.fsPath(path.Join(b.opts.Dir, rel)))
			if err != nil {
				if isNotFound(err) {
					return nil
				}
				return err
			}
			for _, e := range entries {
				key := e.Name()
				if rel != "" {
					key = rel + "/" + e.Name()
				}
				if e.IsDir() {
					if backend.ListsInto(key, prefix) {
						if err := walk(key); err != nil {
							return err
						}
					}
					continue
				}
				if !backend.Lists(key, e.Name(), prefix) || !e.Mode().IsRegular() {
					continue
				}
				if err := fn(backend.Info{Key: key, Size: e.Size(), ModTime: e.ModTime()}); err != nil {
					cbErr = err
					return err
				}
			}
			return nil
		}
		return walk(backend.ListFrom(prefix))
	})
	if cbErr != nil {
		return fmt.Errorf("%s: list %q: %w", b.loc, prefix, cbErr)
	}
	if err != nil {
		return b.wrap("list", prefix, err)
	}
	return nil
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.onFile(ctx, "delete", key, func(sh *smb2.Share, name string) error { return sh.Remove(b.fsPath(name)) })
}

// Close implements backend.Backend: it logs off.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.share == nil {
		return nil
	}
	_ = b.share.Umount()
	err := b.session.Logoff()
	b.share, b.session = nil, nil
	if err != nil {
		return fmt.Errorf("%s: logging off: %w", b.loc, err)
	}
	return nil
}

func (b *Backend) wrap(op, key string, err error) error {
	switch {
	case errors.Is(err, backend.ErrExists):
		// Permanent too: retrying a create that lost cannot win it.
		return fmt.Errorf("%s: %s %s: %w: %w", b.loc, op, key, backend.ErrExists, backend.ErrPermanent)
	case isNotFound(err):
		return fmt.Errorf("%s: %s %s: %w", b.loc, op, key, backend.ErrNotFound)
	case isDenied(err):
		return fmt.Errorf("%s: %s %s: %w: %w", b.loc, op, key, err, backend.ErrPermanent)
	}
	return fmt.Errorf("%s: %s %s: %w", b.loc, op, key, err)
}

// NTSTATUS codes the backend tells apart ([MS-ERREF] 2.3).
const (
	statusAccessDenied        = 0xC0000022
	statusObjectNameNotFound  = 0xC0000034
	statusObjectNameCollision = 0xC0000035
	statusObjectPathNotFound  = 0xC000003A
	statusNoSuchUser          = 0xC0000064
	statusWrongPassword       = 0xC000006A
	statusLogonFailure        = 0xC000006D
	statusAccountRestriction  = 0xC000006E
	statusPasswordExpired     = 0xC0000071
	statusAccountDisabled     = 0xC0000072
	statusBadNetworkName      = 0xC00000CC
)

func ntStatus(err error, codes ...uint32) bool {
	var re *smb2.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.Code == c {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || ntStatus(err, statusObjectNameNotFound, statusObjectPathNotFound)
}

func isExists(err error) bool {
	return errors.Is(err, fs.ErrExist) || ntStatus(err, statusObjectNameCollision)
}

func isDenied(err error) bool {
	return errors.Is(err, fs.ErrPermission) || ntStatus(err, statusAccessDenied)
}

func isAuthError(err error) bool {
	return ntStatus(err, statusLogonFailure, statusWrongPassword, statusNoSuchUser, statusAccountRestriction,
		statusPasswordExpired, statusAccountDisabled, statusAccessDenied)
}

// RemoveAll deletes the repository directory of opts with everything in
// it (tests and tools; the repository itself never removes its root).
func RemoveAll(ctx context.Context, opts Options) error {
	if opts.Dir == "" {
		return fmt.Errorf("smb: refusing to remove the whole share %q", opts.Share)
	}
	b, err := New(ctx, opts)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.do(ctx, func(sh *smb2.Share) error { return sh.RemoveAll(b.fsPath(opts.Dir)) })
}
