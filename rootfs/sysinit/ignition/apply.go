package ignition

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_5/types"
	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/internal/unixmode"
)

// Options say where to apply a config and how to reach the network.
type Options struct {
	// Root is the machine's / (ROOT, with USR on /usr); tests use a
	// directory.
	Root string
	// HTTP fetches http(s) sources; nil when the machine has no network,
	// and then a config with such a source is refused.
	HTTP *http.Client
}

// Apply writes the config's users' keys, directories, files and links
// under o.Root and, last, the applied marker (contract.IgnitionApplied)
// holding the config's sha256. On any error nothing of the config is
// left: staged files are removed and directories made for it too.
func (c *Config) Apply(ctx context.Context, o Options) (err error) {
	s := &stager{root: o.Root}
	defer func() {
		if err != nil {
			s.rollback()
		}
	}()
	if s.users, err = readIDs(o.Root, "/etc/passwd"); err != nil {
		return err
	}
	if s.groups, err = readIDs(o.Root, "/etc/group"); err != nil {
		return err
	}
	if err := s.keys(c.cfg.Passwd.Users); err != nil {
		return err
	}
	if err := s.directories(c.cfg.Storage.Directories); err != nil {
		return err
	}
	if err := s.files(ctx, o.HTTP, c.cfg.Storage.Files); err != nil {
		return err
	}
	if err := s.links(c.cfg.Storage.Links); err != nil {
		return err
	}
	marker := "sha256:" + c.SHA256 + "\n"
	if err := s.stageBytes("", contract.IgnitionApplied, []byte(marker), 0o644, 0, 0, true); err != nil {
		return err
	}
	return s.commit()
}

// Applied reads the marker a previous Apply left: the sha256 of the
// config it applied, or ok false on a machine never configured.
func Applied(root string) (sha string, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(root, contract.IgnitionApplied))
	if os.IsNotExist(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("ignition: %w", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "sha256:"), true, nil
}

// staged is a file or link written under tmp, renamed to final at commit:
// a file through fsutil (synced, owner and mode set, then put in place),
// a link by a rename.
type staged struct {
	tmp, final string
	file       *fsutil.Pending // nil for a link
	replace    bool            // remove what is at final first (overwrite)
}

type stager struct {
	root          string
	users, groups idTable
	created       []string // directories made, in order
	staged        []staged
	committed     int
	later         []func() error // mode and owner of directories that existed
	n             int
}

func (s *stager) keys(users []types.PasswdUser) error {
	for i, u := range users {
		at := fmt.Sprintf("$.passwd.users.%d", i)
		if _, err := s.users.lookup(u.Name); err != nil {
			return refuse(at+".name", "user %v: the image must have the user", err)
		}
		if len(u.SSHAuthorizedKeys) == 0 {
			continue
		}
		var b strings.Builder
		for _, k := range u.SSHAuthorizedKeys {
			b.WriteString(strings.TrimSpace(string(k)) + "\n")
		}
		// Root-owned and world-readable: public keys are no secret, and an
		// SSH server that checks ownership trusts root's files.
		dst := filepath.Join(contract.SSHKeysMachine, u.Name)
		if err := s.stageBytes(at+".sshAuthorizedKeys", dst, []byte(b.String()), 0o644, 0, 0, true); err != nil {
			return err
		}
	}
	return nil
}

// owner resolves a node's user and group (root when unset).
func (s *stager) owner(at string, n types.Node) (uid, gid int, err error) {
	if uid, err = s.users.resolve(n.User.ID, n.User.Name); err != nil {
		return 0, 0, refuse(at+".user", "%v", err)
	}
	if gid, err = s.groups.resolve(n.Group.ID, n.Group.Name); err != nil {
		return 0, 0, refuse(at+".group", "%v", err)
	}
	return uid, gid, nil
}

func modeOr(m *int, def uint32) uint32 {
	if m == nil {
		return def
	}
	return uint32(*m)
}

// exists checks a node's path against its overwrite flag.
func (s *stager) exists(at string, n types.Node) (bool, os.FileInfo, error) {
	fi, err := os.Lstat(s.path(n.Path))
	if os.IsNotExist(err) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, refuse(at+".path", "%v", err)
	}
	return true, fi, nil
}

func (s *stager) path(p string) string { return filepath.Join(s.root, p) }

func (s *stager) directories(dirs []types.Directory) error {
	order := make([]int, len(dirs))
	for i := range order {
		order[i] = i
	}
	// Parents before children, whatever order the config lists them in.
	sort.SliceStable(order, func(a, b int) bool { return dirs[order[a]].Depth() < dirs[order[b]].Depth() })
	for _, i := range order {
		d, at := dirs[i], fmt.Sprintf("$.storage.directories.%d", i)
		uid, gid, err := s.owner(at, d.Node)
		if err != nil {
			return err
		}
		mode, final := modeOr(d.Mode, 0o755), s.path(d.Path)
		ok, fi, err := s.exists(at, d.Node)
		switch {
		case err != nil:
			return err
		case ok && !fi.IsDir():
			return refuse(at+".path", "%s exists and is not a directory", d.Path)
		case ok:
			s.later = append(s.later, func() error { return setOwnerMode(final, uid, gid, mode) })
			continue
		}
		if err := s.mkdirAll(filepath.Dir(final)); err != nil {
			return refuse(at+".path", "%v", err)
		}
		if err := os.Mkdir(final, 0o700); err != nil {
			return refuse(at+".path", "%v", err)
		}
		s.created = append(s.created, final)
		if err := setOwnerMode(final, uid, gid, mode); err != nil {
			return refuse(at+".mode", "%v", err)
		}
	}
	return nil
}

// setOwnerMode chowns before chmod: chown clears setuid and setgid bits.
func setOwnerMode(p string, uid, gid int, mode uint32) error {
	if err := os.Lchown(p, uid, gid); err != nil {
		return err
	}
	return unix.Chmod(p, mode)
}

func (s *stager) files(ctx context.Context, client *http.Client, files []types.File) error {
	for i, f := range files {
		at := fmt.Sprintf("$.storage.files.%d", i)
		uid, gid, err := s.owner(at, f.Node)
		if err != nil {
			return err
		}
		replace, err := s.mayReplace(at, f.Node)
		if err != nil {
			return err
		}
		var fetchErr error
		err = s.stage(at, f.Path, modeOr(f.Mode, 0o644), uid, gid, replace, func(w *os.File) error {
			fetchErr = fetchTo(ctx, client, f.Contents, w)
			return fetchErr
		})
		var refused *Error
		switch {
		case fetchErr != nil:
			return refuse(at+".contents.source", "%v", fetchErr)
		case errors.As(err, &refused):
			return err
		case err != nil: // create, sync, chown, chmod or close
			return refuse(at+".path", "%v", err)
		}
	}
	return nil
}

// mayReplace refuses a path that exists unless overwrite is true, as
// Ignition does.
func (s *stager) mayReplace(at string, n types.Node) (bool, error) {
	ok, _, err := s.exists(at, n)
	if err != nil || !ok {
		return false, err
	}
	if n.Overwrite == nil || !*n.Overwrite {
		return false, refuse(at+".overwrite", "%s exists on the image and overwrite is not true", n.Path)
	}
	return true, nil
}

// stage writes p's new content beside its final place (same file
// system, so the commit's rename is atomic), synced and with its owner
// and mode, to be put in place at commit. A directory that cannot be
// made is refused at the node's path; fill's and fsutil's errors are
// returned as they are.
func (s *stager) stage(at, p string, mode uint32, uid, gid int, replace bool, fill func(*os.File) error) error {
	final := s.path(p)
	if err := s.mkdirAll(filepath.Dir(final)); err != nil {
		return refuse(at+".path", "%v", err)
	}
	f, err := fsutil.Stage(final, unixmode.ToFileMode(mode), fill, fsutil.Owner(uid, gid))
	if err != nil {
		return err
	}
	s.staged = append(s.staged, staged{tmp: f.TempName(), final: final, file: f, replace: replace})
	return nil
}

func (s *stager) stageBytes(at, p string, data []byte, mode uint32, uid, gid int, replace bool) error {
	err := s.stage(at, p, mode, uid, gid, replace, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	var refused *Error
	if err != nil && !errors.As(err, &refused) {
		return fmt.Errorf("ignition: write %s: %w", p, err)
	}
	return err
}

func (s *stager) links(links []types.Link) error {
	for i, l := range links {
		at := fmt.Sprintf("$.storage.links.%d", i)
		uid, gid, err := s.owner(at, l.Node)
		if err != nil {
			return err
		}
		replace, err := s.mayReplace(at, l.Node)
		if err != nil {
			return err
		}
		dir := filepath.Dir(s.path(l.Path))
		if err := s.mkdirAll(dir); err != nil {
			return refuse(at+".path", "%v", err)
		}
		s.n++
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.ignition-link%d", filepath.Base(l.Path), s.n))
		if l.Hard != nil && *l.Hard {
			err = os.Link(s.hardTarget(*l.Target), tmp)
		} else {
			err = os.Symlink(*l.Target, tmp)
		}
		if err != nil {
			return refuse(at+".target", "%v", err)
		}
		s.staged = append(s.staged, staged{tmp: tmp, final: s.path(l.Path), replace: replace})
		if l.Hard == nil || !*l.Hard {
			if err := os.Lchown(tmp, uid, gid); err != nil {
				return refuse(at+".user", "%v", err)
			}
		}
	}
	return nil
}

// hardTarget links to the staged copy when the config itself writes the
// target: the rename at commit keeps the inode, so the link stays right.
func (s *stager) hardTarget(target string) string {
	final := s.path(target)
	for _, st := range s.staged {
		if st.final == final {
			return st.tmp
		}
	}
	return final
}

// mkdirAll makes dir and its missing parents (0755, root), remembering
// them so that a failure removes them again.
func (s *stager) mkdirAll(dir string) error {
	fi, err := os.Lstat(dir)
	if err == nil {
		if fi.IsDir() {
			return nil
		}
		return fmt.Errorf("%s is not a directory", strings.TrimPrefix(dir, s.root))
	}
	if !os.IsNotExist(err) {
		return err
	}
	if err := s.mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	s.created = append(s.created, dir)
	return unix.Chmod(dir, 0o755) // whatever the umask
}

// commit renames every staged node into place, the marker last.
func (s *stager) commit() error {
	for _, st := range s.staged {
		if st.replace {
			if err := os.RemoveAll(st.final); err != nil {
				return fmt.Errorf("ignition: replace %s: %w", st.final, err)
			}
		}
		var err error
		if st.file != nil {
			err = st.file.Commit()
		} else {
			err = os.Rename(st.tmp, st.final)
		}
		if err != nil {
			return fmt.Errorf("ignition: %w", err)
		}
		s.committed++
	}
	for _, f := range s.later {
		if err := f(); err != nil {
			return fmt.Errorf("ignition: %w", err)
		}
	}
	// Each file's rename is durable (fsutil syncs its directory); the
	// directories made for them and the modes set on existing ones are
	// not, until this.
	unix.Sync()
	return nil
}

// rollback removes what was staged and not yet renamed, then the
// directories made for it, deepest first.
func (s *stager) rollback() {
	for _, st := range s.staged[s.committed:] {
		_ = os.Remove(st.tmp)
	}
	for i := len(s.created) - 1; i >= 0; i-- {
		_ = os.Remove(s.created[i])
	}
}
