package format

import (
	"archive/zip"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/export/data"
)

// The fixed parts of the XLSX package (Office Open XML, ECMA-376). They are
// the smallest set Excel, LibreOffice, Google Sheets and excelize open
// without a repair prompt.

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

const sheetEnd = `</sheetData></worksheet>`

// appendSheetStart opens a worksheet: the header row frozen so it stays in
// view, and wider columns for dates and timestamps, which Excel would
// otherwise show as "#####".
func (e *xlsxEncoder) appendSheetStart(b []byte) []byte {
	b = append(b, xmlHeader...)
	b = append(b, `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`...)
	b = append(b, `<sheetViews><sheetView workbookViewId="0">`...)
	b = append(b, `<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>`...)
	b = append(b, `</sheetView></sheetViews>`...)
	cols := false
	for i, c := range e.cols {
		width := 0
		switch c.Type {
		case data.TypeDate:
			width = 11
		case data.TypeTimestamp:
			width = 20
		}
		if width == 0 {
			continue
		}
		if !cols {
			b = append(b, "<cols>"...)
			cols = true
		}
		n := strconv.Itoa(i + 1)
		b = append(b, `<col min="`+n+`" max="`+n+`" width="`+strconv.Itoa(width)+`" customWidth="1"/>`...)
	}
	if cols {
		b = append(b, "</cols>"...)
	}
	return append(b, "<sheetData>"...)
}

// xlsxStyles defines the cell formats that the style constants index:
// 0 default, 1 date, 2 timestamp, 3 bold header.
const xlsxStyles = xmlHeader +
	`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
	`<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>` +
	`<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>` +
	`<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>` +
	`<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
	`<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
	`<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
	`<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>` +
	`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>` +
	`</styleSheet>`

const rootRels = xmlHeader +
	`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
	`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
	`</Relationships>`

// writeWorkbookParts writes the parts that depend on the number of sheets.
func (e *xlsxEncoder) writeWorkbookParts() error {
	var ct, wb, rels strings.Builder
	ct.WriteString(xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
		`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>`)
	wb.WriteString(xmlHeader + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
		`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`)
	rels.WriteString(xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i := 1; i <= e.sheets; i++ {
		fmt.Fprintf(&ct, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i)
		fmt.Fprintf(&wb, `<sheet name="Sheet%d" sheetId="%d" r:id="rId%d"/>`, i, i, i)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i, i)
	}
	ct.WriteString(`</Types>`)
	wb.WriteString(`</sheets></workbook>`)
	fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`, e.sheets+1)

	for _, p := range []struct{ name, body string }{
		{"[Content_Types].xml", ct.String()},
		{"_rels/.rels", rootRels},
		{"xl/workbook.xml", wb.String()},
		{"xl/_rels/workbook.xml.rels", rels.String()},
		{"xl/styles.xml", xlsxStyles},
	} {
		if err := e.writePart(p.name, p.body); err != nil {
			return err
		}
	}
	return nil
}

func (e *xlsxEncoder) writePart(name, body string) error {
	w, err := e.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: e.modified})
	if err == nil {
		_, err = w.Write([]byte(body))
	}
	if err != nil {
		return fmt.Errorf("format: write xlsx part %s: %w", name, err)
	}
	return nil
}

// maxCellChars is Excel's limit on the text of one cell, in UTF-16 units.
const maxCellChars = 32767

// appendInlineText writes `<is><t>…</t></is>` for s: XML-escaped, CR kept as
// a character reference (an XML parser would turn a raw CR into LF),
// characters XML 1.0 forbids dropped, invalid UTF-8 replaced by U+FFFD, and
// the text cut at Excel's 32,767-character limit.
func appendInlineText(b []byte, s string) []byte {
	if len(s) > maxCellChars { // bytes ≥ UTF-16 units, so only then count
		s = truncateUTF16(s, maxCellChars)
	}
	if s != "" && (isXMLSpace(s[0]) || isXMLSpace(s[len(s)-1])) {
		b = append(b, `<is><t xml:space="preserve">`...)
	} else {
		b = append(b, `<is><t>`...)
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '&' && c != '<' && c != '>' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		size := 1
		switch {
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case c == '\r':
			b = append(b, "&#xD;"...)
		case c == '\n' || c == '\t':
			b = append(b, c)
		case c < 0x20:
			// forbidden in XML 1.0: dropped
		default:
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				b = append(b, "\uFFFD"...)
			case r == 0xFFFE || r == 0xFFFF:
				// forbidden in XML 1.0: dropped
			default:
				b = append(b, s[i:i+size]...)
			}
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, "</t></is>"...)
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// truncateUTF16 cuts s at a rune boundary to at most n UTF-16 units.
func truncateUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		u := 1
		if r >= 0x10000 {
			u = 2
		}
		if units+u > n {
			return s[:i]
		}
		units += u
	}
	return s
}
