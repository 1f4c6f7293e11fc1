package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmp runs one QMP command; args may be nil.
func (vm *VM) qmp(command string, args map[string]any) error {
	var conn net.Conn
	var err error
	for range 50 { // the socket appears shortly after QEMU starts
		if conn, err = net.Dial("unix", vm.qmpPath); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("qemu: qmp: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return fmt.Errorf("qemu: qmp greeting: %w", err)
	}
	for _, c := range []string{"qmp_capabilities", command} {
		req := map[string]any{"execute": c}
		if c == command && args != nil {
			req["arguments"] = args
		}
		if err := json.NewEncoder(conn).Encode(req); err != nil {
			return fmt.Errorf("qemu: qmp %s: %w", c, err)
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("qemu: qmp %s: %w", c, err)
			}
			var resp struct {
				Return any             `json:"return"`
				Error  json.RawMessage `json:"error"`
			}
			json.Unmarshal(line, &resp)
			if resp.Error != nil {
				return fmt.Errorf("qemu: qmp %s: %s", c, resp.Error)
			}
			if resp.Return != nil {
				break
			}
		}
	}
	return nil
}
