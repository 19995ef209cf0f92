package container

import (
	"fmt"
	"math/rand/v2"
	"regexp"

	"github.com/berthd/berth/pkg/errdefs"
)

// validName is dockerd's rule for container names (after the leading /).
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a user-given name with dockerd's message.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return errdefs.InvalidParameterf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

// Word lists for generated names, in the spirit of dockerd's
// adjective_surname names.
var (
	adjectives = []string{
		"admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful",
		"blissful", "bold", "boring", "brave", "busy", "charming", "clever", "compassionate",
		"competent", "condescending", "confident", "cool", "cranky", "crazy", "dazzling", "determined",
		"distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent",
		"epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
		"funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore",
		"heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly",
		"jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
		"musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective",
		"optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
		"recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly",
		"sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty",
		"trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful",
		"xenodochial", "youthful", "zealous", "zen",
	}
	surnames = []string{
		"agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik",
		"bassi", "bell", "bhabha", "blackwell", "bohr", "booth", "borg", "bose",
		"brahmagupta", "brown", "burnell", "cannon", "carson", "cerf", "chandrasekhar", "chatelet",
		"clarke", "colden", "cori", "curie", "darwin", "davinci", "diffie", "dijkstra",
		"dirac", "easley", "einstein", "elbakyan", "elion", "engelbart", "euclid", "euler",
		"faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "germain",
		"goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hellman", "hermann", "hodgkin",
		"hopper", "hypatia", "jackson", "jennings", "johnson", "kalam", "kapitsa", "keller",
		"kepler", "khorana", "kilby", "knuth", "lalande", "lamarr", "lamport", "leakey",
		"lederberg", "lehmann", "lewin", "lovelace", "lumiere", "mahavira", "mayer", "mccarthy",
		"mcclintock", "meitner", "mendel", "merkle", "mirzakhani", "morse", "newton", "nobel",
		"noether", "northcutt", "noyce", "pascal", "pasteur", "payne", "perlman", "pike",
		"poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "roentgen", "rosalind",
		"saha", "sammet", "shannon", "shockley", "sinoussi", "stonebraker", "swartz", "tesla",
		"thompson", "torvalds", "turing", "villani", "volhard", "wescoff", "wiles", "williams",
		"wilson", "wing", "wozniak", "wright", "yalow", "yonath",
	}
)

// GenerateName returns an adjective_surname name. retry > 0 appends a
// digit, as dockerd does when the first choices are taken.
func GenerateName(retry int) string {
	for {
		name := fmt.Sprintf("%s_%s", adjectives[rand.IntN(len(adjectives))], surnames[rand.IntN(len(surnames))])
		if name == "boring_wozniak" { // Steve Wozniak is not boring (dockerd's rule)
			continue
		}
		if retry > 0 {
			name = fmt.Sprintf("%s%d", name, rand.IntN(10))
		}
		return name
	}
}
