package demo

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"
)

// language is everything a person's name, contact details and texts depend
// on. Each language is tied to one country, so address, phone, locale and
// time zone always agree (the bank is the exception: its customers live in
// Poland whatever language they prefer, see bankProfile).
type language struct {
	code    string // "pl": picks the texts
	locale  string // BCP 47
	country string // ISO 3166-1 alpha-2
	cc      string // calling code
	male    []string
	female  []string
	// surnames in their male (or only) form; femaleSurname derives the
	// female form where the language inflects it (Kowalski → Kowalska,
	// Петров → Петрова).
	surnames []string
	// Japanese names are written "漢字|romaji"; the part after | is used
	// for email addresses.
	familyFirst bool // "佐藤 花子"
	twoSurnames bool // Spanish "García López"
	domains     []string
	phones      []string // patterns, # is a random digit
	cities      []city
	streets     []string
	address     func(r *rand.Rand, street string) (line1, line2 string)
}

// city is a place customers live; postal is a pattern (# digit, @ letter).
type city struct {
	name, region, postal, tz string
	off                      int    // standard UTC offset in hours, for the time of day
	phone                    string // a city-specific phone pattern (US area codes), else ""
}

// Email domains are the names RFC 2606 reserves (example.com, .net, .org) and
// subdomains of them, so that no generated address can ever reach a real
// mailbox: example.pl or example.ru are ordinary registrable domains that
// someone may own, so they are not used.
var (
	domainsEN = []string{"example.com", "example.net", "example.org", "mail.example.com"}
	domainsPL = []string{"example.com", "poczta.example.com", "example.net", "skrzynka.example.org"}
	domainsRU = []string{"example.com", "pochta.example.com", "example.org", "mail.example.net"}
	domainsUA = []string{"example.com", "poshta.example.net", "example.org"}
	domainsDE = []string{"example.com", "post.example.net", "mail.example.org", "example.org"}
	domainsFR = []string{"example.com", "courriel.example.net", "example.org"}
	domainsES = []string{"example.com", "correo.example.com", "example.net"}
	domainsJA = []string{"example.com", "mobile.example.net", "example.org"}
)

var (
	langPL = &language{
		code: "pl", locale: "pl-PL", country: "PL", cc: "48",
		male: []string{"Jan", "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Michał", "Marcin", "Łukasz", "Jakub",
			"Mateusz", "Grzegorz", "Wojciech", "Kamil", "Szymon", "Bartłomiej", "Dawid", "Adam", "Rafał", "Maciej", "Jerzy", "Stanisław"},
		female: []string{"Anna", "Maria", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Magdalena", "Joanna", "Zofia",
			"Monika", "Aleksandra", "Natalia", "Julia", "Zuzanna", "Weronika", "Dorota", "Beata", "Gabriela", "Jadwiga", "Halina", "Elżbieta"},
		surnames: []string{"Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński", "Szymański",
			"Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski",
			"Nowakowski", "Pawłowski", "Michalski", "Wróbel", "Jabłoński", "Król", "Zając", "Wieczorek", "Górski", "Sikora",
			"Baran", "Rutkowski", "Sobczak", "Czerwiński", "Żak", "Głowacki", "Łuczak", "Ślusarczyk", "Orłowski", "Sadowski"},
		domains: domainsPL,
		phones:  []string{"+4850#######", "+4851#######", "+4853#######", "+4860#######", "+4866#######", "+4869#######", "+4872#######", "+4879#######", "+4888#######"},
		cities: []city{
			{name: "Warszawa", region: "mazowieckie", postal: "0#-###", tz: "Europe/Warsaw", off: 1},
			{name: "Kraków", region: "małopolskie", postal: "3#-###", tz: "Europe/Warsaw", off: 1},
			{name: "Łódź", region: "łódzkie", postal: "9#-###", tz: "Europe/Warsaw", off: 1},
			{name: "Wrocław", region: "dolnośląskie", postal: "5#-###", tz: "Europe/Warsaw", off: 1},
			{name: "Poznań", region: "wielkopolskie", postal: "6#-###", tz: "Europe/Warsaw", off: 1},
			{name: "Gdańsk", region: "pomorskie", postal: "80-###", tz: "Europe/Warsaw", off: 1},
			{name: "Szczecin", region: "zachodniopomorskie", postal: "7#-###", tz: "Europe/Warsaw", off: 1},
			{name: "Lublin", region: "lubelskie", postal: "20-###", tz: "Europe/Warsaw", off: 1},
			{name: "Katowice", region: "śląskie", postal: "40-###", tz: "Europe/Warsaw", off: 1},
			{name: "Białystok", region: "podlaskie", postal: "15-###", tz: "Europe/Warsaw", off: 1},
			{name: "Rzeszów", region: "podkarpackie", postal: "35-###", tz: "Europe/Warsaw", off: 1},
		},
		streets: []string{"ul. Marszałkowska", "ul. Piotrkowska", "ul. Długa", "al. Jana Pawła II", "ul. Kościuszki", "ul. Mickiewicza",
			"ul. Słowackiego", "ul. Ogrodowa", "ul. Lipowa", "ul. Szkolna", "ul. Polna", "ul. Leśna", "ul. Żeromskiego",
			"ul. Wojska Polskiego", "ul. Świętokrzyska", "ul. Krótka", "os. Słoneczne"},
		address: func(r *rand.Rand, s string) (string, string) {
			if r.IntN(3) > 0 {
				return s + " " + itoa(1+r.IntN(120)) + "/" + itoa(1+r.IntN(80)), ""
			}
			return s + " " + itoa(1+r.IntN(120)), ""
		},
	}
	langRU = &language{
		code: "ru", locale: "ru-RU", country: "RU", cc: "7",
		male: []string{"Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Николай", "Александр", "Владимир", "Павел",
			"Артём", "Максим", "Евгений", "Олег", "Игорь", "Кирилл", "Роман", "Юрий", "Илья", "Григорий"},
		female: []string{"Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Екатерина", "Юлия",
			"Анастасия", "Дарья", "Ксения", "Алина", "Полина", "Виктория", "Людмила", "Галина", "Софья", "Вера"},
		surnames: []string{"Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков",
			"Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов",
			"Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев",
			"Григорьев", "Романов", "Воробьёв", "Ильин", "Сорокин", "Виноградов", "Медведев", "Жуков", "Белов",
			"Чернышевский", "Достоевский", "Черных", "Долгих"},
		domains: domainsRU,
		phones:  []string{"+7900#######", "+7903#######", "+7915#######", "+7916#######", "+7921#######", "+7925#######", "+7926#######", "+7985#######", "+7999#######"},
		cities: []city{
			{name: "Москва", region: "Москва", postal: "1#####", tz: "Europe/Moscow", off: 3},
			{name: "Санкт-Петербург", region: "Санкт-Петербург", postal: "19####", tz: "Europe/Moscow", off: 3},
			{name: "Казань", region: "Республика Татарстан", postal: "420###", tz: "Europe/Moscow", off: 3},
			{name: "Нижний Новгород", region: "Нижегородская область", postal: "603###", tz: "Europe/Moscow", off: 3},
			{name: "Ростов-на-Дону", region: "Ростовская область", postal: "344###", tz: "Europe/Moscow", off: 3},
			{name: "Самара", region: "Самарская область", postal: "443###", tz: "Europe/Samara", off: 4},
			{name: "Екатеринбург", region: "Свердловская область", postal: "620###", tz: "Asia/Yekaterinburg", off: 5},
			{name: "Новосибирск", region: "Новосибирская область", postal: "630###", tz: "Asia/Novosibirsk", off: 7},
			{name: "Владивосток", region: "Приморский край", postal: "690###", tz: "Asia/Vladivostok", off: 10},
		},
		streets: []string{"ул. Ленина", "ул. Пушкина", "ул. Гагарина", "Невский пр.", "ул. Тверская", "ул. Садовая", "ул. Мира",
			"ул. Советская", "пр. Мира", "ул. Лесная", "ул. Молодёжная", "ул. Центральная", "Комсомольский пр."},
		address: func(r *rand.Rand, s string) (string, string) {
			return s + ", д. " + itoa(1+r.IntN(150)) + ", кв. " + itoa(1+r.IntN(300)), ""
		},
	}
	langUK = &language{
		code: "uk", locale: "uk-UA", country: "UA", cc: "380",
		male: []string{"Олександр", "Андрій", "Дмитро", "Сергій", "Микола", "Іван", "Тарас", "Богдан", "Василь", "Юрій",
			"Олег", "Максим", "Віктор", "Петро", "Остап", "Ярослав"},
		female: []string{"Олена", "Наталія", "Ірина", "Оксана", "Тетяна", "Юлія", "Анна", "Марія", "Світлана", "Катерина",
			"Ольга", "Софія", "Вікторія", "Людмила", "Галина", "Христина", "Ярина"},
		surnames: []string{"Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Олійник", "Шевчук", "Поліщук",
			"Бойко", "Мельник", "Ковальчук", "Савченко", "Лисенко", "Руденко", "Марченко", "Мороз", "Петренко", "Коваль",
			"Павленко", "Клименко", "Гончаренко", "Левченко", "Костенко", "Кравчук", "Ковальський", "Литвиненко",
			"Гнатюк", "Остапчук", "Вовк", "Яковенко", "Грицай"},
		domains: domainsUA,
		phones:  []string{"+38050#######", "+38063#######", "+38066#######", "+38067#######", "+38068#######", "+38073#######", "+38093#######", "+38095#######", "+38097#######"},
		cities: []city{
			{name: "Київ", region: "Київ", postal: "0####", tz: "Europe/Kyiv", off: 2},
			{name: "Львів", region: "Львівська область", postal: "79###", tz: "Europe/Kyiv", off: 2},
			{name: "Харків", region: "Харківська область", postal: "61###", tz: "Europe/Kyiv", off: 2},
			{name: "Одеса", region: "Одеська область", postal: "65###", tz: "Europe/Kyiv", off: 2},
			{name: "Дніпро", region: "Дніпропетровська область", postal: "49###", tz: "Europe/Kyiv", off: 2},
			{name: "Вінниця", region: "Вінницька область", postal: "21###", tz: "Europe/Kyiv", off: 2},
		},
		streets: []string{"вул. Хрещатик", "вул. Шевченка", "вул. Франка", "просп. Свободи", "вул. Лесі Українки",
			"вул. Сагайдачного", "вул. Січових Стрільців", "вул. Садова", "вул. Грушевського"},
		address: func(r *rand.Rand, s string) (string, string) {
			return s + ", " + itoa(1+r.IntN(120)) + ", кв. " + itoa(1+r.IntN(200)), ""
		},
	}
	langDE = &language{
		code: "de", locale: "de-DE", country: "DE", cc: "49",
		male: []string{"Lukas", "Leon", "Maximilian", "Felix", "Jonas", "Paul", "Thomas", "Michael", "Andreas", "Stefan",
			"Jürgen", "Klaus", "Uwe", "Tobias", "Florian", "Sebastian", "Matthias", "Jörg", "Björn", "Günter"},
		female: []string{"Anna", "Lena", "Sophie", "Marie", "Laura", "Katharina", "Julia", "Sabine", "Petra", "Ursula",
			"Monika", "Claudia", "Jana", "Hannah", "Lea", "Jessica", "Brigitte", "Jutta", "Käthe", "Jülide"},
		surnames: []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
			"Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz",
			"Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier",
			"Lehmann", "Köhler", "Weiß", "Jäger", "Groß", "Yılmaz", "Kaya"},
		domains: domainsDE,
		phones:  []string{"+49151########", "+49152########", "+49160#######", "+49170#######", "+49171#######", "+49176########", "+49157########"},
		cities: []city{
			{name: "Berlin", region: "Berlin", postal: "1####", tz: "Europe/Berlin", off: 1},
			{name: "Hamburg", region: "Hamburg", postal: "2####", tz: "Europe/Berlin", off: 1},
			{name: "München", region: "Bayern", postal: "8####", tz: "Europe/Berlin", off: 1},
			{name: "Köln", region: "Nordrhein-Westfalen", postal: "50###", tz: "Europe/Berlin", off: 1},
			{name: "Frankfurt am Main", region: "Hessen", postal: "60###", tz: "Europe/Berlin", off: 1},
			{name: "Stuttgart", region: "Baden-Württemberg", postal: "70###", tz: "Europe/Berlin", off: 1},
			{name: "Düsseldorf", region: "Nordrhein-Westfalen", postal: "40###", tz: "Europe/Berlin", off: 1},
			{name: "Leipzig", region: "Sachsen", postal: "04###", tz: "Europe/Berlin", off: 1},
			{name: "Nürnberg", region: "Bayern", postal: "90###", tz: "Europe/Berlin", off: 1},
		},
		streets: []string{"Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Lindenstraße", "Goethestraße",
			"Schillerstraße", "Mühlenweg", "Am Markt", "Friedrichstraße", "Kirchplatz", "Rosenweg", "Bergstraße"},
		address: func(r *rand.Rand, s string) (string, string) {
			n := itoa(1 + r.IntN(90))
			if r.IntN(8) == 0 {
				n += string(rune('a' + r.IntN(3)))
			}
			return s + " " + n, ""
		},
	}
	langGB = &language{
		code: "en", locale: "en-GB", country: "GB", cc: "44",
		male: []string{"Oliver", "George", "Harry", "Jack", "Jacob", "Charlie", "Thomas", "James", "William", "Daniel",
			"David", "Richard", "Paul", "Mark", "Andrew", "Christopher", "Mohammed", "Rhys"},
		female: []string{"Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Lily", "Charlotte", "Emma",
			"Sarah", "Rebecca", "Hannah", "Lucy", "Jessica", "Victoria", "Siobhan", "Priya"},
		surnames: []string{"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
			"Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
			"Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Cooper", "O'Brien", "Khan", "McDonald"},
		domains: domainsEN,
		// Ofcom reserves 07700 900000–900999 for drama: never a real phone.
		phones: []string{"+447700900###"},
		cities: []city{
			{name: "London", region: "Greater London", postal: "SW# #@@", tz: "Europe/London", off: 0},
			{name: "London", region: "Greater London", postal: "E# #@@", tz: "Europe/London", off: 0},
			{name: "Manchester", region: "Greater Manchester", postal: "M# #@@", tz: "Europe/London", off: 0},
			{name: "Birmingham", region: "West Midlands", postal: "B# #@@", tz: "Europe/London", off: 0},
			{name: "Leeds", region: "West Yorkshire", postal: "LS# #@@", tz: "Europe/London", off: 0},
			{name: "Bristol", region: "Bristol", postal: "BS# #@@", tz: "Europe/London", off: 0},
			{name: "Glasgow", region: "Scotland", postal: "G# #@@", tz: "Europe/London", off: 0},
			{name: "Edinburgh", region: "Scotland", postal: "EH# #@@", tz: "Europe/London", off: 0},
			{name: "Cardiff", region: "Wales", postal: "CF# #@@", tz: "Europe/London", off: 0},
		},
		streets: []string{"High Street", "Station Road", "Church Lane", "Victoria Road", "Park Road", "Queen's Road",
			"Mill Lane", "The Crescent", "Green Lane", "Manor Road", "King Street"},
		address: func(r *rand.Rand, s string) (string, string) {
			if r.IntN(4) == 0 {
				return "Flat " + itoa(1+r.IntN(20)), itoa(1+r.IntN(200)) + " " + s
			}
			return itoa(1+r.IntN(200)) + " " + s, ""
		},
	}
	langUS = &language{
		code: "en", locale: "en-US", country: "US", cc: "1",
		male: []string{"James", "John", "Robert", "Michael", "William", "David", "Joseph", "Christopher", "Matthew", "Anthony",
			"Joshua", "Ryan", "Brandon", "Tyler", "Kevin", "José", "Ethan", "Noah", "DeShawn", "Wei"},
		female: []string{"Mary", "Jennifer", "Linda", "Elizabeth", "Jessica", "Ashley", "Emily", "Sarah", "Madison", "Olivia",
			"Emma", "Ava", "Sophia", "Isabella", "Megan", "Samantha", "María", "Chloe", "Aaliyah", "Mei"},
		surnames: []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
			"Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
			"Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Nguyen",
			"Kim", "Chen", "O'Connor"},
		domains: domainsEN,
		cities: []city{
			// 555-0100 to 555-0199 are reserved for fiction in every area code.
			{name: "New York", region: "NY", postal: "100##", tz: "America/New_York", off: -5, phone: "+121255501##"},
			{name: "Boston", region: "MA", postal: "021##", tz: "America/New_York", off: -5, phone: "+161755501##"},
			{name: "Chicago", region: "IL", postal: "606##", tz: "America/Chicago", off: -6, phone: "+131255501##"},
			{name: "Houston", region: "TX", postal: "770##", tz: "America/Chicago", off: -6, phone: "+171355501##"},
			{name: "Austin", region: "TX", postal: "787##", tz: "America/Chicago", off: -6, phone: "+151255501##"},
			{name: "Denver", region: "CO", postal: "802##", tz: "America/Denver", off: -7, phone: "+130355501##"},
			{name: "Phoenix", region: "AZ", postal: "850##", tz: "America/Phoenix", off: -7, phone: "+160255501##"},
			{name: "Los Angeles", region: "CA", postal: "900##", tz: "America/Los_Angeles", off: -8, phone: "+121355501##"},
			{name: "San Francisco", region: "CA", postal: "941##", tz: "America/Los_Angeles", off: -8, phone: "+141555501##"},
			{name: "Seattle", region: "WA", postal: "981##", tz: "America/Los_Angeles", off: -8, phone: "+120655501##"},
		},
		streets: []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Ave", "Lake View Dr", "Pine St",
			"2nd Ave", "Sunset Blvd", "Park Pl"},
		address: func(r *rand.Rand, s string) (string, string) {
			if r.IntN(3) == 0 {
				return itoa(10+r.IntN(9000)) + " " + s, "Apt " + itoa(1+r.IntN(30)) + string(rune('A'+r.IntN(6)))
			}
			return itoa(10+r.IntN(9000)) + " " + s, ""
		},
	}
	langES = &language{
		code: "es", locale: "es-ES", country: "ES", cc: "34", twoSurnames: true,
		male: []string{"Antonio", "José", "Manuel", "Francisco", "David", "Juan", "Javier", "Daniel", "Carlos", "Jesús",
			"Alejandro", "Miguel", "Pablo", "Álvaro", "Sergio", "Hugo", "Iñigo", "Raúl"},
		female: []string{"María", "Carmen", "Ana", "Isabel", "Laura", "Lucía", "Cristina", "Marta", "Elena", "Paula",
			"Sofía", "Sara", "Raquel", "Pilar", "Nuria", "Begoña", "Inés", "Ainhoa"},
		surnames: []string{"García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
			"Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso",
			"Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Serrano", "Blanco", "Núñez", "Ibáñez"},
		domains: domainsES,
		phones:  []string{"+3461#######", "+3462#######", "+3465#######", "+3467#######", "+3469#######", "+3471#######"},
		cities: []city{
			{name: "Madrid", region: "Comunidad de Madrid", postal: "280##", tz: "Europe/Madrid", off: 1},
			{name: "Barcelona", region: "Cataluña", postal: "080##", tz: "Europe/Madrid", off: 1},
			{name: "Valencia", region: "Comunidad Valenciana", postal: "460##", tz: "Europe/Madrid", off: 1},
			{name: "Sevilla", region: "Andalucía", postal: "410##", tz: "Europe/Madrid", off: 1},
			{name: "Málaga", region: "Andalucía", postal: "290##", tz: "Europe/Madrid", off: 1},
			{name: "Bilbao", region: "País Vasco", postal: "480##", tz: "Europe/Madrid", off: 1},
			{name: "Zaragoza", region: "Aragón", postal: "500##", tz: "Europe/Madrid", off: 1},
			{name: "Las Palmas de Gran Canaria", region: "Canarias", postal: "350##", tz: "Atlantic/Canary", off: 0},
		},
		streets: []string{"Calle Mayor", "Calle de Alcalá", "Gran Vía", "Avenida de la Constitución", "Calle Real",
			"Paseo de Gracia", "Calle San Vicente", "Plaza de España", "Calle del Carmen"},
		address: func(r *rand.Rand, s string) (string, string) {
			return s + ", " + itoa(1+r.IntN(150)), itoa(1+r.IntN(8)) + "º " + string(rune('A'+r.IntN(4)))
		},
	}
	langFR = &language{
		code: "fr", locale: "fr-FR", country: "FR", cc: "33",
		male: []string{"Jean", "Pierre", "Michel", "Philippe", "Nicolas", "Julien", "Thomas", "Antoine", "Louis", "Hugo",
			"Lucas", "François", "Étienne", "Mathieu", "Olivier", "Gabriel", "Léo", "Théo"},
		female: []string{"Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Camille", "Chloé", "Manon", "Léa", "Emma",
			"Juliette", "Céline", "Sophie", "Élodie", "Aurélie", "Hélène", "Inès", "Margaux"},
		surnames: []string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
			"Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
			"Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Guérin", "Chevalier"},
		domains: domainsFR,
		// ARCEP sets 06 39 98 xx xx aside for fiction.
		phones: []string{"+3363998####"},
		cities: []city{
			{name: "Paris", region: "Île-de-France", postal: "750##", tz: "Europe/Paris", off: 1},
			{name: "Marseille", region: "Provence-Alpes-Côte d'Azur", postal: "130##", tz: "Europe/Paris", off: 1},
			{name: "Lyon", region: "Auvergne-Rhône-Alpes", postal: "6900#", tz: "Europe/Paris", off: 1},
			{name: "Toulouse", region: "Occitanie", postal: "310##", tz: "Europe/Paris", off: 1},
			{name: "Nice", region: "Provence-Alpes-Côte d'Azur", postal: "060##", tz: "Europe/Paris", off: 1},
			{name: "Nantes", region: "Pays de la Loire", postal: "440##", tz: "Europe/Paris", off: 1},
			{name: "Strasbourg", region: "Grand Est", postal: "670##", tz: "Europe/Paris", off: 1},
			{name: "Bordeaux", region: "Nouvelle-Aquitaine", postal: "330##", tz: "Europe/Paris", off: 1},
			{name: "Lille", region: "Hauts-de-France", postal: "590##", tz: "Europe/Paris", off: 1},
		},
		streets: []string{"rue de la Paix", "avenue Victor Hugo", "rue du Faubourg Saint-Honoré", "boulevard Saint-Germain",
			"rue de la République", "place Bellecour", "rue des Lilas", "avenue Jean Jaurès", "rue Nationale"},
		address: func(r *rand.Rand, s string) (string, string) {
			n := itoa(1 + r.IntN(150))
			if r.IntN(10) == 0 {
				n += " bis"
			}
			return n + " " + s, ""
		},
	}
	langJA = &language{
		code: "ja", locale: "ja-JP", country: "JP", cc: "81", familyFirst: true,
		male: []string{"翔太|shota", "大輝|daiki", "拓海|takumi", "健太|kenta", "蓮|ren", "大翔|hiroto", "悠真|yuma",
			"陽翔|haruto", "誠|makoto", "隆|takashi", "浩|hiroshi", "健一|kenichi"},
		female: []string{"花子|hanako", "陽菜|hina", "結衣|yui", "美咲|misaki", "さくら|sakura", "葵|aoi", "愛|ai",
			"由美|yumi", "恵子|keiko", "真由美|mayumi", "明美|akemi", "優奈|yuna"},
		surnames: []string{"佐藤|sato", "鈴木|suzuki", "高橋|takahashi", "田中|tanaka", "伊藤|ito", "渡辺|watanabe",
			"山本|yamamoto", "中村|nakamura", "小林|kobayashi", "加藤|kato", "吉田|yoshida", "山田|yamada",
			"佐々木|sasaki", "山口|yamaguchi", "松本|matsumoto", "井上|inoue", "木村|kimura", "林|hayashi", "斎藤|saito", "清水|shimizu"},
		domains: domainsJA,
		phones:  []string{"+8190########", "+8180########", "+8170########"},
		cities: []city{
			{name: "渋谷区", region: "東京都", postal: "150-####", tz: "Asia/Tokyo", off: 9},
			{name: "新宿区", region: "東京都", postal: "160-####", tz: "Asia/Tokyo", off: 9},
			{name: "世田谷区", region: "東京都", postal: "15#-####", tz: "Asia/Tokyo", off: 9},
			{name: "大阪市", region: "大阪府", postal: "53#-####", tz: "Asia/Tokyo", off: 9},
			{name: "横浜市", region: "神奈川県", postal: "22#-####", tz: "Asia/Tokyo", off: 9},
			{name: "名古屋市", region: "愛知県", postal: "45#-####", tz: "Asia/Tokyo", off: 9},
			{name: "札幌市", region: "北海道", postal: "06#-####", tz: "Asia/Tokyo", off: 9},
			{name: "福岡市", region: "福岡県", postal: "81#-####", tz: "Asia/Tokyo", off: 9},
			{name: "京都市", region: "京都府", postal: "60#-####", tz: "Asia/Tokyo", off: 9},
		},
		streets: []string{"本町", "中央", "栄町", "桜木町", "緑が丘", "旭町", "元町", "若葉"},
		address: func(r *rand.Rand, s string) (string, string) {
			return s + itoa(1+r.IntN(5)) + "丁目" + itoa(1+r.IntN(20)) + "-" + itoa(1+r.IntN(30)), ""
		},
	}
)

// allLanguages is used by tests to check every table.
var allLanguages = []*language{langPL, langRU, langUK, langDE, langGB, langUS, langES, langFR, langJA}

func itoa(n int) string { return strconv.Itoa(n) }

// native returns the written form of a name entry ("佐藤|sato" → "佐藤").
func native(s string) string {
	if i := strings.IndexByte(s, '|'); i >= 0 {
		return s[:i]
	}
	return s
}

// latin returns the Latin form of a name for an email address: the romaji
// part of a Japanese entry, else a transliteration lower-cased to a-z.
func latin(s string, lang string) string {
	if i := strings.IndexByte(s, '|'); i >= 0 {
		return s[i+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r < utf8.RuneSelf:
			// apostrophes, spaces and hyphens vanish: O'Brien → obrien
		default:
			if lang == "uk" {
				if t, ok := translitUK[r]; ok {
					b.WriteString(t)
					continue
				}
			}
			if t, ok := translit[r]; ok {
				b.WriteString(t)
			}
		}
	}
	return b.String()
}

// translit holds the Latin spelling used in email addresses: German umlauts
// as ae/oe/ue, other Latin diacritics dropped, Russian Cyrillic as in
// passports (ГОСТ 52535.1-2006), Ukrainian per the 2010 national table.
var translit = map[rune]string{
	'ą': "a", 'ć': "c", 'ę': "e", 'ł': "l", 'ń': "n", 'ó': "o", 'ś': "s", 'ź': "z", 'ż': "z",
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'ß': "ss", 'ı': "i",
	'á': "a", 'à': "a", 'â': "a", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'í': "i", 'î': "i", 'ï': "i",
	'ñ': "n", 'ô': "o", 'ú': "u", 'ù': "u", 'û': "u", 'ç': "c", 'ÿ': "y", 'œ': "oe",
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z", 'и': "i",
	'й': "i", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t",
	'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "ie", 'ы': "y",
	'ь': "", 'э': "e", 'ю': "iu", 'я': "ia",
}

var translitUK = map[rune]string{
	'г': "h", 'ґ': "g", 'е': "e", 'є': "ie", 'и': "y", 'і': "i", 'ї': "i", 'й': "i", 'х': "kh",
	'щ': "shch", 'ю': "iu", 'я': "ia", 'ь': "", '\'': "", '’': "",
}

// femaleSurname gives the female form of a surname where the language
// inflects it: Polish -ski/-cki/-dzki → -ska/-cka/-dzka; Russian -ов/-ев/-ёв/-ин/-ын
// take -а and -ский becomes -ская; Ukrainian -ський/-цький → -ська/-цька.
// Other surnames (Nowak, Шевченко, Черных) do not change.
func femaleSurname(code, s string) string {
	switch code {
	case "pl":
		for _, suf := range []string{"ski", "cki", "dzki"} {
			if strings.HasSuffix(s, suf) {
				return strings.TrimSuffix(s, "i") + "a"
			}
		}
	case "ru":
		if strings.HasSuffix(s, "ский") || strings.HasSuffix(s, "цкий") {
			return strings.TrimSuffix(s, "ий") + "ая"
		}
		for _, suf := range []string{"ов", "ев", "ёв", "ин", "ын"} {
			if strings.HasSuffix(s, suf) {
				return s + "а"
			}
		}
	case "uk":
		if strings.HasSuffix(s, "ський") || strings.HasSuffix(s, "цький") {
			return strings.TrimSuffix(s, "ий") + "а"
		}
	}
	return s
}

// fill expands a pattern: # a digit, @ an upper-case letter.
func fill(r *rand.Rand, pat string) string {
	b := make([]byte, 0, len(pat))
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '#':
			b = append(b, byte('0'+r.IntN(10)))
		case '@':
			b = append(b, "ABDEFGHJLNPQRSTUWXYZ"[r.IntN(20)])
		default:
			b = append(b, pat[i])
		}
	}
	return string(b)
}

// person is a generated identity.
type person struct {
	first, last string // native script
	name        string // display form
	email       string
}

// makePerson draws a name in lang and derives an email address from it. The
// address's digits are the customer number, which keeps every one unique.
func makePerson(r *rand.Rand, lang *language, female bool, no int) person {
	var p person
	firstE := pick(r, lang.male)
	if female {
		firstE = pick(r, lang.female)
	}
	lastE := pick(r, lang.surnames)
	p.first = native(firstE)
	p.last = native(lastE)
	if female {
		p.last = femaleSurname(lang.code, p.last)
	}
	fl, ll := latin(firstE, lang.code), latin(lastE, lang.code)
	if female && lang.code != "ja" {
		ll = latin(p.last, lang.code)
	}
	if lang.twoSurnames {
		second := pick(r, lang.surnames)
		p.last += " " + second
		if r.IntN(2) == 0 {
			ll += latin(second, lang.code)
		}
	}
	if lang.familyFirst {
		p.name = p.last + " " + p.first
	} else {
		p.name = p.first + " " + p.last
	}
	num := itoa(no)
	var local string
	switch r.IntN(6) {
	case 0:
		local = fl + "." + ll + num
	case 1:
		local = fl + ll + num
	case 2:
		local = fl[:1] + "." + ll + num
	case 3:
		local = ll + "." + fl + num
	case 4:
		local = fl + "_" + ll + num
	default:
		local = fl + "." + ll + "." + num
	}
	p.email = local + "@" + pick(r, lang.domains)
	return p
}

// phone draws a mobile number of the customer's country (a city may have
// its own pattern, like US area codes).
func phone(r *rand.Rand, lang *language, c *city) string {
	if c.phone != "" {
		return fill(r, c.phone)
	}
	if len(lang.phones) == 0 {
		return ""
	}
	return fill(r, pick(r, lang.phones))
}
