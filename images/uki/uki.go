// Package uki assembles Unified Kernel Images: systemd's EFI stub
// (linuxx64.efi.stub) with the kernel, initramfs, command line and
// os-release added as PE sections, so that one file, signed once,
// carries everything the firmware hands to Linux.
package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"fmt"
)

// Section is one PE section to add.
type Section struct {
	Name string // at most 8 bytes, e.g. ".cmdline"
	Data []byte
}

// Input is what goes into a UKI.
type Input struct {
	Stub    []byte // systemd's linuxx64.efi.stub
	OSRel   []byte // os-release text
	Cmdline string // the kernel command line, fixed by the signature
	Linux   []byte // the kernel (bzImage with its EFI stub)
	Initrd  []byte
}

// Build makes the UKI. The kernel goes last, as systemd's ukify does:
// the kernel may use memory past its own image while it decompresses.
func Build(in Input) ([]byte, error) {
	// The stub copies the section as it is; a NUL ends the line for
	// stubs that pass it on as a C string.
	return AddSections(in.Stub, []Section{
		{".osrel", in.OSRel},
		{".cmdline", append([]byte(in.Cmdline), 0)},
		{".initrd", in.Initrd},
		{".linux", in.Linux},
	})
}

const (
	pageSize       = 0x1000
	sectionHdrSize = 40
	// IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
	dataSection = 0x00000040 | 0x40000000
)

// peLayout holds the offsets of the header fields we rewrite.
type peLayout struct {
	coff, opt, sections  int // file offsets
	numSections          int
	sectAlign, fileAlign uint32
	sizeOfHeaders        uint32
}

func parseLayout(img []byte) (*peLayout, *pe.File, error) {
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, nil, fmt.Errorf("uki: stub: %w", err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return nil, nil, fmt.Errorf("uki: stub is not PE32+")
	}
	if len(oh.DataDirectory) > pe.IMAGE_DIRECTORY_ENTRY_SECURITY && oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size != 0 {
		return nil, nil, fmt.Errorf("uki: stub is already signed; sign the UKI after building it")
	}
	peOff := int(binary.LittleEndian.Uint32(img[0x3c:]))
	l := &peLayout{coff: peOff + 4, opt: peOff + 24, numSections: int(f.FileHeader.NumberOfSections),
		sectAlign: oh.SectionAlignment, fileAlign: oh.FileAlignment, sizeOfHeaders: oh.SizeOfHeaders}
	l.sections = l.opt + int(f.FileHeader.SizeOfOptionalHeader)
	for i, s := range f.Sections {
		if img[l.sections+i*sectionHdrSize] == '/' {
			return nil, nil, fmt.Errorf("uki: stub section %s has its name in the COFF string table, which we drop", s.Name)
		}
	}
	return l, f, nil
}

func alignUp(v, a uint32) uint32 { return (v + a - 1) / a * a }

// AddSections appends sections to a PE32+ image (dropping its COFF
// symbol table): new section headers in
// the header area's slack, the data after the image's last section at
// the next page-aligned virtual address, then SizeOfImage,
// SizeOfInitializedData and the checksum updated.
func AddSections(stub []byte, add []Section) ([]byte, error) {
	l, f, err := parseLayout(stub)
	if err != nil {
		return nil, err
	}
	tableEnd := l.sections + (l.numSections+len(add))*sectionHdrSize
	var fileEnd, virtEnd uint32
	firstRaw := l.sizeOfHeaders
	for _, s := range f.Sections {
		fileEnd = max(fileEnd, s.Offset+s.Size)
		virtEnd = max(virtEnd, s.VirtualAddress+max(s.VirtualSize, s.Size))
		if s.Size > 0 {
			firstRaw = min(firstRaw, s.Offset)
		}
	}
	if uint32(tableEnd) > firstRaw {
		return nil, fmt.Errorf("uki: no room for %d more section headers in the stub (%d bytes of headers)", len(add), firstRaw)
	}
	out := append([]byte(nil), stub[:fileEnd]...)
	raw := alignUp(fileEnd, l.fileAlign)
	virt := alignUp(virtEnd, pageSize)
	var initData uint32
	for i, s := range add {
		if len(s.Name) == 0 || len(s.Name) > 8 {
			return nil, fmt.Errorf("uki: section name %q must have 1 to 8 bytes", s.Name)
		}
		out = append(out, make([]byte, int(raw)-len(out))...)
		rawSize := alignUp(uint32(len(s.Data)), l.fileAlign)
		hdr := make([]byte, sectionHdrSize)
		copy(hdr, s.Name)
		le := binary.LittleEndian
		le.PutUint32(hdr[8:], uint32(len(s.Data))) // VirtualSize
		le.PutUint32(hdr[12:], virt)               // VirtualAddress
		le.PutUint32(hdr[16:], rawSize)            // SizeOfRawData
		le.PutUint32(hdr[20:], raw)                // PointerToRawData
		le.PutUint32(hdr[36:], dataSection)        // Characteristics
		copy(out[l.sections+(l.numSections+i)*sectionHdrSize:], hdr)
		out = append(out, s.Data...)
		out = append(out, make([]byte, int(rawSize)-len(s.Data))...)
		initData += rawSize
		raw += rawSize
		virt = alignUp(virt+uint32(len(s.Data)), pageSize)
	}
	le := binary.LittleEndian
	le.PutUint16(out[l.coff+2:], uint16(l.numSections+len(add)))
	// The stub's COFF symbol table (debug names only; the loader never
	// reads it) sat after its last section, where our data goes now.
	le.PutUint32(out[l.coff+8:], 0)                                // PointerToSymbolTable
	le.PutUint32(out[l.coff+12:], 0)                               // NumberOfSymbols
	le.PutUint32(out[l.opt+8:], le.Uint32(out[l.opt+8:])+initData) // SizeOfInitializedData
	le.PutUint32(out[l.opt+56:], alignUp(virt, l.sectAlign))       // SizeOfImage
	le.PutUint32(out[l.opt+64:], Checksum(out, l.opt+64))
	return out, nil
}

// Checksum is the PE image checksum: a 16-bit one's-complement-style
// sum of the file with the checksum field (at csumOff) taken as zero,
// plus the file length.
func Checksum(img []byte, csumOff int) uint32 {
	var sum uint64
	for i := 0; i+1 < len(img); i += 2 {
		if i == csumOff || i == csumOff+2 {
			continue
		}
		sum += uint64(binary.LittleEndian.Uint16(img[i:]))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	if len(img)%2 == 1 {
		sum += uint64(img[len(img)-1])
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(img))
}

// SectionData returns the content of a named section of a PE image (its
// VirtualSize bytes), for checks and tests.
func SectionData(img []byte, name string) ([]byte, error) {
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("uki: %w", err)
	}
	s := f.Section(name)
	if s == nil {
		return nil, fmt.Errorf("uki: no section %s", name)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("uki: section %s: %w", name, err)
	}
	return data[:min(uint32(len(data)), s.VirtualSize)], nil
}

// SectionOffset is where a named section's data starts in the file.
func SectionOffset(img []byte, name string) (int64, error) {
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		return 0, fmt.Errorf("uki: %w", err)
	}
	s := f.Section(name)
	if s == nil {
		return 0, fmt.Errorf("uki: no section %s", name)
	}
	return int64(s.Offset), nil
}
