package billpay

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// translit maps the non-ASCII letters the host meets in names and addresses to ASCII:
// Azerbaijani Latin (host-iso8583.md §1: ə→a, ş→s, ç→c, ğ→g, ı→i, ö→o, ü→u), Cyrillic by
// the table of ICAO Doc 9303 part 3 (Russian, Ukrainian, Belarusian, Azerbaijani and
// Kazakh letters), and the common Latin letters with diacritics.
var translit = map[rune]string{
	// Azerbaijani / Turkish Latin.
	'ə': "a", 'Ə': "A", 'ş': "s", 'Ş': "S", 'ç': "c", 'Ç': "C", 'ğ': "g", 'Ğ': "G",
	'ı': "i", 'İ': "I", 'ö': "o", 'Ö': "O", 'ü': "u", 'Ü': "U",
	// Other Latin letters with diacritics.
	'á': "a", 'à': "a", 'â': "a", 'ä': "a", 'ã': "a", 'å': "a", 'Á': "A", 'À': "A", 'Â': "A", 'Ä': "A", 'Ã': "A", 'Å': "A",
	'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'É': "E", 'È': "E", 'Ê': "E", 'Ë': "E",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'Í': "I", 'Ì': "I", 'Î': "I", 'Ï': "I",
	'ó': "o", 'ò': "o", 'ô': "o", 'õ': "o", 'Ó': "O", 'Ò': "O", 'Ô': "O", 'Õ': "O",
	'ú': "u", 'ù': "u", 'û': "u", 'Ú': "U", 'Ù': "U", 'Û': "U",
	'ñ': "n", 'Ñ': "N", 'ý': "y", 'Ý': "Y", 'ÿ': "y", 'ß': "ss", 'æ': "ae", 'Æ': "AE", 'ø': "o", 'Ø': "O",
	// Cyrillic, ICAO Doc 9303.
	'А': "A", 'Б': "B", 'В': "V", 'Г': "G", 'Д': "D", 'Е': "E", 'Ё': "E", 'Ж': "ZH", 'З': "Z",
	'И': "I", 'Й': "I", 'К': "K", 'Л': "L", 'М': "M", 'Н': "N", 'О': "O", 'П': "P", 'Р': "R",
	'С': "S", 'Т': "T", 'У': "U", 'Ф': "F", 'Х': "KH", 'Ц': "TS", 'Ч': "CH", 'Ш': "SH",
	'Щ': "SHCH", 'Ъ': "IE", 'Ы': "Y", 'Ь': "", 'Э': "E", 'Ю': "IU", 'Я': "IA",
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z",
	'и': "i", 'й': "i", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r",
	'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh",
	'щ': "shch", 'ъ': "ie", 'ы': "y", 'ь': "", 'э': "e", 'ю': "iu", 'я': "ia",
	'Є': "IE", 'є': "ie", 'І': "I", 'і': "i", 'Ї': "I", 'ї': "i", 'Ґ': "G", 'ґ': "g", 'Ў': "U", 'ў': "u",
	'Ә': "A", 'ә': "a", 'Ғ': "G", 'ғ': "g", 'Қ': "K", 'қ': "k", 'Ң': "N", 'ң': "n",
	'Ө': "O", 'ө': "o", 'Ұ': "U", 'ұ': "u", 'Ү': "U", 'ү': "u", 'Һ': "H", 'һ': "h", 'Ј': "J", 'ј': "j",
}

// Transliterate returns s in printable ASCII: letters by the table above, other ASCII
// control or non-ASCII characters as '?', whitespace runs as one space.
func Transliterate(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	rs := []rune(strings.TrimSpace(s))
	for i, r := range rs {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		switch {
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r == utf8.RuneError:
			b.WriteByte('?')
		default:
			if t, ok := translit[r]; ok {
				// A capital that becomes two or more letters is title-cased before a
				// small letter: Щербаков → Shcherbakov, ЩЕРБАКОВ → SHCHERBAKOV.
				if len(t) > 1 && unicode.IsUpper(r) && i+1 < len(rs) && unicode.IsLower(rs[i+1]) {
					t = t[:1] + strings.ToLower(t[1:])
				}
				b.WriteString(t)
			} else {
				b.WriteByte('?')
			}
		}
	}
	return b.String()
}

// MaskName returns the payer's name as it may travel on a link (tag 21): transliterated
// to ASCII, its first two words (surname and given name) each reduced to the first letter
// and one '*' per further letter: "Məmmədova Şəhla Rəşid qızı" → "M******** S****".
func MaskName(name string) string {
	words := strings.Fields(Transliterate(name))
	if len(words) > 2 {
		words = words[:2]
	}
	for i, w := range words {
		words[i] = w[:1] + strings.Repeat("*", len(w)-1)
	}
	return strings.Join(words, " ")
}
