package demo

import "strings"

// texts are the free-text templates of one language. Placeholders: {p} a
// product, {o} an order, ticket or account reference, {n} the customer's
// first name, {d} a number of days, {a} an amount with its currency. A list
// a language leaves empty falls back to English.
type texts struct {
	d2cTicket, d2cUpdate, d2cClose, d2cNote, d2cRefund, d2cCancel []string
	d2cSubject, d2cOrderMail, d2cRemind                           []string

	bankCall, bankNote, bankComplaint, bankUpdate, bankClose, bankClosure, bankMsg []string

	gameTicket, gameUpdate, gameClose, gamePush []string

	praise, gripe []string // survey comments
	unsubscribe   []string
}

var textsByCode = map[string]*texts{"en": &textsEN, "pl": &textsPL, "ru": &textsRU, "uk": &textsUK,
	"de": &textsDE, "fr": &textsFR, "es": &textsES, "ja": &textsJA}

// text picks a template of the customer's language and fills it in.
func (g *gen) text(sel func(*texts) []string, vals map[byte]string) string {
	xs := sel(textsByCode[g.p.lang.code])
	if len(xs) == 0 {
		xs = sel(&textsEN)
	}
	return expand(pick(g.r, xs), vals)
}

// expand replaces {x} placeholders; unknown ones stay as they are.
func expand(tpl string, vals map[byte]string) string {
	if !strings.Contains(tpl, "{") {
		return tpl
	}
	var b strings.Builder
	b.Grow(len(tpl) + 32)
	for i := 0; i < len(tpl); i++ {
		if tpl[i] == '{' && i+2 < len(tpl) && tpl[i+2] == '}' {
			if v, ok := vals[tpl[i+1]]; ok {
				b.WriteString(v)
				i += 2
				continue
			}
		}
		b.WriteByte(tpl[i])
	}
	return b.String()
}

var textsEN = texts{
	d2cTicket: []string{
		"Hi, my order {o} arrived but the {p} tin was dented and the lid does not close. Can you send a replacement?",
		"Order {o} still hasn't arrived after {d} days. The tracking page has not changed since Monday.",
		"I was charged twice for order {o}. Please refund the duplicate payment.",
		"The {p} tastes very different from my last pack — much more bitter. Has the supplier changed?",
		"Can I change the delivery address for order {o}? I'm moving next week.",
		"My skin reacted badly to the {p}. I'd like to return it, the bottle is almost full.",
		"The discount code from your newsletter doesn't work at checkout for {p}.",
		"How do I pause my subscription box for a month while I'm on holiday?",
	},
	d2cUpdate: []string{
		"We have asked the courier to trace the parcel and will get back to you within 2 working days.",
		"Replacement for {p} dispatched today, tracking number sent by email.",
		"Refund approved by the warehouse, the money should be back on your card in 3-5 days.",
		"Customer sent photos of the damaged parcel; forwarded to the carrier claims team.",
		"Asked the customer for the batch number printed on the bottom of the pack.",
	},
	d2cClose: []string{
		"Resolved: replacement delivered, customer confirmed.",
		"Closed after refund of {a}.",
		"Customer found the parcel at a neighbour's. Closing.",
		"Explained how to pause the subscription; customer paused it for one month.",
		"No reply from the customer for 7 days, closing the ticket.",
	},
	d2cNote: []string{
		"Prefers loose-leaf tea over tea bags; asked to be told when the new Darjeeling harvest arrives.",
		"Called about wholesale prices for a café; sent the B2B price list.",
		"Long-time customer, very friendly. Add a free sample of {p} to the next order.",
		"Complained about plastic in the packaging — mentioned our new compostable pouches.",
		"Gift order for her mother's birthday; wants a handwritten card next time.",
		"Allergic to nuts, check ingredients before recommending cosmetics.",
	},
	d2cRefund: []string{"Damaged in transit", "Wrong item sent", "Changed my mind", "Product expired", "Allergic reaction", "Arrived too late"},
	d2cCancel: []string{
		"Too much tea piling up at home, I'll order single packs instead.",
		"Moving abroad, please cancel.",
		"Too expensive at the moment.",
		"The last two boxes had the same teas.",
		"Delivery kept arriving when I was not at home.",
	},
	d2cSubject: []string{
		"{n}, the first flush Darjeeling is here",
		"New: ceremonial matcha from Uji",
		"Free shipping this weekend only",
		"Our autumn blends are back",
		"{n}, 15% off your favourites",
		"Cold brew season: three recipes to try",
		"Last chance: winter gift boxes",
	},
	d2cOrderMail: []string{"Your order {o} is confirmed", "Thank you for your order {o}", "Order {o} has been shipped"},
	d2cRemind:    []string{"{n}, running low on {p}?", "Time to restock your {p}", "Your {p} should be running out soon"},

	bankCall: []string{
		"Customer asked about raising the card limit. Explained the process, application started.",
		"Called about a blocked card after a trip abroad; card unblocked after verification.",
		"Asked about term deposit rates; offered 6-month deposit, customer will think about it.",
		"Enquiry about mortgage overpayment; sent the schedule by email.",
		"Customer reported a lost card. Card {o} cancelled, replacement ordered.",
		"Retention call: customer considering moving the salary account to another bank because of fees.",
	},
	bankNote: []string{
		"Prefers contact by email, not phone.",
		"Interested in investment funds, schedule a meeting with an advisor.",
		"Self-employed since last year; may need a business account.",
		"Visited the branch to update the ID document.",
	},
	bankComplaint: []string{
		"Transfer {o} sent three days ago has not reached the recipient.",
		"I was charged a card fee although I made the required number of payments.",
		"The mobile app logs me out every time I try to sign a transfer.",
		"The ATM did not dispense cash but my account was debited {a}.",
		"I did not receive the answer to my previous complaint within 30 days.",
	},
	bankUpdate: []string{
		"Complaint registered, case forwarded to the payments department.",
		"Asked the customer for the ATM receipt and the exact time of the withdrawal.",
		"Payments team confirmed a delay at the receiving bank.",
	},
	bankClose: []string{
		"Complaint accepted, {a} returned to the account.",
		"Complaint rejected: the fee complied with the price list; letter sent.",
		"Issue fixed in app version 5.2; customer informed.",
	},
	bankClosure: []string{"Moving to another bank with better terms", "Account fees too high", "Emigrating", "No longer needs the product", "Consolidating accounts after marriage"},
	bankMsg:     []string{"Your monthly statement is ready", "Your card expires soon — a new one is on its way", "New savings account: 6% for 3 months", "Security alert: new device signed in", "Your loan instalment is due in 5 days"},

	gameTicket: []string{
		"I bought the {p} but never received it. Order {o}.",
		"The game crashes on the loading screen since the last update.",
		"I lost my progress after switching phones. My player name is on the account.",
		"Someone is cheating in ranked matches, please check the last game.",
		"I was charged {a} but the gems did not appear.",
	},
	gameUpdate:  []string{"Asked the player for the purchase receipt.", "Forwarded the crash log to the developers.", "Account located; verifying ownership."},
	gameClose:   []string{"Items restored to the account.", "Fixed in the latest patch.", "Progress restored after verification.", "Refund issued by the store."},
	gamePush:    []string{"Your energy is full — time to play!", "New event: Frost Festival starts now", "{n}, we miss you! 200 gems are waiting", "Your daily reward is ready", "Season pass ends in 2 days"},
	praise:      []string{"Great service, thank you!", "Fast delivery and lovely packaging.", "Always helpful staff.", "Love it, recommended to friends.", "Everything worked perfectly."},
	gripe:       []string{"Too expensive for what it is.", "Waited far too long for an answer.", "The app keeps crashing.", "Quality got worse lately.", "Hard to reach anyone by phone."},
	unsubscribe: []string{"Unsubscribed via the link in the email.", "Asked not to receive marketing emails."},
}

var textsPL = texts{
	d2cTicket: []string{
		"Dzień dobry, zamówienie {o} doszło, ale puszka {p} jest wgnieciona i wieczko się nie domyka. Proszę o wymianę.",
		"Zamówienie {o} wciąż nie dotarło, mija już {d} dni. Śledzenie przesyłki stoi w miejscu.",
		"Zostałam obciążona dwa razy za zamówienie {o}. Proszę o zwrot nadpłaty.",
		"{p} smakuje zupełnie inaczej niż poprzednio — dużo bardziej gorzko. Czy zmienił się dostawca?",
		"Czy mogę zmienić adres dostawy zamówienia {o}? W przyszłym tygodniu się przeprowadzam.",
		"Kod rabatowy z newslettera nie działa przy zakupie {p}.",
		"Jak zawiesić subskrypcję pudełka na miesiąc? Wyjeżdżam na urlop.",
	},
	d2cUpdate: []string{
		"Zgłoszono reklamację u kuriera, odpowiedź w ciągu 2 dni roboczych.",
		"Wysłano nowy {p}, numer przesyłki w mailu.",
		"Magazyn zatwierdził zwrot, środki wrócą na kartę w ciągu 3–5 dni.",
		"Klientka przesłała zdjęcia uszkodzonej paczki.",
	},
	d2cClose: []string{
		"Rozwiązane: klient potwierdził odbiór nowej paczki.",
		"Zamknięte po zwrocie {a}.",
		"Paczka była u sąsiada. Zamykam.",
		"Brak odpowiedzi klienta od 7 dni — zamykam zgłoszenie.",
	},
	d2cNote: []string{
		"Woli herbatę liściastą niż ekspresową; prosi o informację o nowym zbiorze Darjeeling.",
		"Pytał o ceny hurtowe dla kawiarni w Krakowie — wysłano cennik B2B.",
		"Stała klientka, bardzo miła. Dołożyć próbkę {p} do następnego zamówienia.",
		"Zamówienie na prezent dla mamy — następnym razem kartka z życzeniami.",
		"Uczulenie na orzechy, sprawdzać skład kosmetyków przed poleceniem.",
	},
	d2cRefund: []string{"Uszkodzone w transporcie", "Wysłano zły produkt", "Rezygnacja z zakupu", "Przeterminowany produkt", "Reakcja alergiczna"},
	d2cCancel: []string{"Za dużo herbaty w domu, będę zamawiać pojedynczo.", "Wyjeżdżam za granicę.", "Na razie za drogo.", "Ostatnie dwa pudełka miały te same herbaty."},
	d2cSubject: []string{"{n}, nowy zbiór Darjeelinga już jest", "Darmowa dostawa tylko w ten weekend", "Jesienne mieszanki wróciły",
		"{n}, -15% na ulubione produkty", "Ostatnia szansa: zimowe zestawy prezentowe"},
	d2cOrderMail: []string{"Potwierdzenie zamówienia {o}", "Dziękujemy za zamówienie {o}", "Zamówienie {o} zostało wysłane"},
	d2cRemind:    []string{"{n}, kończy się {p}?", "Czas uzupełnić zapas: {p}"},

	bankCall: []string{
		"Klient pytał o podwyższenie limitu na karcie. Wyjaśniono procedurę, wniosek złożony.",
		"Zablokowana karta po wyjeździe za granicę; odblokowano po weryfikacji tożsamości.",
		"Pytanie o oprocentowanie lokat; zaproponowano lokatę 6-miesięczną, klientka się zastanowi.",
		"Zgłoszenie utraty karty. Karta {o} zastrzeżona, zamówiono nową.",
		"Rozmowa retencyjna: klient rozważa przeniesienie konta do innego banku z powodu opłat.",
		"Klientka pytała o nadpłatę kredytu hipotecznego; harmonogram wysłany mailem.",
	},
	bankNote: []string{
		"Preferuje kontakt mailowy, nie telefoniczny.",
		"Zainteresowany funduszami inwestycyjnymi — umówić spotkanie z doradcą.",
		"Od roku prowadzi działalność gospodarczą; może potrzebować konta firmowego.",
		"Wizyta w oddziale w celu aktualizacji dowodu osobistego.",
	},
	bankComplaint: []string{
		"Przelew {o} wysłany trzy dni temu nie dotarł do odbiorcy.",
		"Pobrano opłatę za kartę, mimo że wykonałem wymaganą liczbę transakcji.",
		"Aplikacja mobilna wylogowuje mnie przy każdej próbie autoryzacji przelewu.",
		"Bankomat nie wypłacił gotówki, a z konta pobrano {a}.",
		"Nie otrzymałem odpowiedzi na poprzednią reklamację w ciągu 30 dni.",
	},
	bankUpdate: []string{"Reklamacja zarejestrowana, przekazana do działu płatności.", "Poproszono klienta o potwierdzenie z bankomatu.", "Dział płatności potwierdził opóźnienie po stronie banku odbiorcy."},
	bankClose:  []string{"Reklamacja uznana, zwrócono {a} na rachunek.", "Reklamacja nieuznana: opłata zgodna z taryfą; wysłano pismo.", "Błąd naprawiony w wersji aplikacji 5.2; klient poinformowany."},
	bankClosure: []string{"Przejście do innego banku z lepszą ofertą", "Zbyt wysokie opłaty", "Wyjazd za granicę",
		"Produkt nie jest już potrzebny", "Łączenie rachunków po ślubie"},
	bankMsg: []string{"Wyciąg miesięczny jest gotowy", "Twoja karta wkrótce traci ważność — nowa jest w drodze", "Nowe konto oszczędnościowe: 6% przez 3 miesiące",
		"Alert bezpieczeństwa: logowanie z nowego urządzenia", "Za 5 dni termin spłaty raty"},

	gameTicket: []string{"Kupiłem {p}, ale nic nie dostałem. Zamówienie {o}.", "Gra wyłącza się na ekranie ładowania od ostatniej aktualizacji.",
		"Straciłem postęp po zmianie telefonu.", "Pobrano {a}, a klejnoty się nie pojawiły."},
	gamePush:    []string{"Energia pełna — czas zagrać!", "Nowe wydarzenie: Mroźny Festiwal już trwa", "{n}, tęsknimy! Czeka na Ciebie 200 klejnotów"},
	praise:      []string{"Świetna obsługa, dziękuję!", "Szybka dostawa i piękne opakowanie.", "Zawsze pomocni.", "Polecam znajomym."},
	gripe:       []string{"Za drogo.", "Za długo czekałem na odpowiedź.", "Aplikacja ciągle się zawiesza.", "Jakość ostatnio spadła.", "Trudno się dodzwonić."},
	unsubscribe: []string{"Wypisanie z newslettera przez link w mailu.", "Prosi o niewysyłanie maili marketingowych."},
}

var textsRU = texts{
	d2cTicket: []string{
		"Здравствуйте! Заказ {o} пришёл, но банка {p} помята и крышка не закрывается. Пришлите, пожалуйста, замену.",
		"Заказ {o} так и не доставлен, прошло уже {d} дней. Трекинг не обновляется.",
		"С меня дважды списали деньги за заказ {o}. Верните, пожалуйста, лишний платёж.",
		"{p} на вкус совсем не такой, как в прошлый раз. Поставщик сменился?",
		"Можно ли изменить адрес доставки заказа {o}?",
	},
	d2cUpdate: []string{"Запросили у курьерской службы розыск посылки.", "Замена {p} отправлена сегодня, трек-номер в письме.", "Склад подтвердил возврат, деньги вернутся на карту за 3–5 дней."},
	d2cClose:  []string{"Решено: клиент получил замену.", "Закрыто после возврата {a}.", "Нет ответа клиента 7 дней, закрываю."},
	d2cNote: []string{"Предпочитает листовой чай; просит сообщить о новом урожае.", "Постоянная клиентка, положить пробник {p} в следующий заказ.",
		"Заказывал подарок для мамы — в следующий раз приложить открытку."},
	d2cRefund:    []string{"Повреждено при доставке", "Прислали не тот товар", "Передумал", "Истёк срок годности"},
	d2cCancel:    []string{"Слишком много чая дома.", "Переезжаю за границу.", "Пока слишком дорого."},
	d2cSubject:   []string{"{n}, новый урожай Дарджилинга уже здесь", "Бесплатная доставка только в эти выходные", "{n}, скидка 15% на любимые товары"},
	d2cOrderMail: []string{"Заказ {o} подтверждён", "Спасибо за заказ {o}", "Заказ {o} отправлен"},
	d2cRemind:    []string{"{n}, заканчивается {p}?", "Пора пополнить запас: {p}"},

	bankCall: []string{
		"Клиент спрашивал об увеличении кредитного лимита. Разъяснили порядок, заявка оформлена.",
		"Карта заблокирована после поездки за границу; разблокирована после проверки личности.",
		"Вопрос о ставках по вкладам; предложен вклад на 6 месяцев, клиентка подумает.",
		"Клиент сообщил об утере карты. Карта {o} заблокирована, заказан перевыпуск.",
		"Звонок по удержанию: клиент думает перевести зарплатный счёт в другой банк из-за комиссий.",
	},
	bankNote: []string{"Предпочитает общение по электронной почте.", "Интересуется инвестиционными фондами — назначить встречу с консультантом.",
		"Просит документы на русском языке, если возможно."},
	bankComplaint: []string{
		"Перевод {o}, отправленный три дня назад, не дошёл до получателя.",
		"Списали комиссию за карту, хотя я выполнил условия по количеству операций.",
		"Банкомат не выдал наличные, но со счёта списано {a}.",
		"Мобильное приложение выкидывает при подтверждении перевода.",
	},
	bankUpdate:  []string{"Жалоба зарегистрирована и передана в отдел платежей.", "Запросили у клиента чек банкомата."},
	bankClose:   []string{"Жалоба удовлетворена, {a} возвращено на счёт.", "Жалоба отклонена: комиссия соответствует тарифам; письмо отправлено."},
	bankClosure: []string{"Переход в другой банк", "Слишком высокие комиссии", "Переезд в другую страну", "Продукт больше не нужен"},
	bankMsg:     []string{"Ваша ежемесячная выписка готова", "Новый сберегательный счёт: 6% на 3 месяца", "Вход с нового устройства"},

	gameTicket: []string{"Купил {p}, но ничего не получил. Заказ {o}.", "Игра вылетает на экране загрузки после обновления.",
		"Пропал прогресс после смены телефона.", "Списали {a}, а кристаллы не пришли."},
	gameUpdate:  []string{"Запросили чек покупки.", "Передали лог ошибки разработчикам."},
	gameClose:   []string{"Предметы восстановлены.", "Исправлено в последнем патче."},
	gamePush:    []string{"Энергия восполнена — пора играть!", "Новое событие: Морозный фестиваль", "{n}, мы скучаем! Вас ждут 200 кристаллов"},
	praise:      []string{"Отличный сервис, спасибо!", "Быстрая доставка.", "Всегда помогают.", "Рекомендую друзьям."},
	gripe:       []string{"Слишком дорого.", "Долго ждал ответа.", "Приложение постоянно зависает.", "Качество стало хуже."},
	unsubscribe: []string{"Отписался по ссылке в письме.", "Просит не присылать рекламные письма."},
}

var textsUK = texts{
	bankCall: []string{
		"Клієнт запитував про збільшення кредитного ліміту. Пояснили процедуру, заявку подано.",
		"Картку заблоковано після поїздки за кордон; розблоковано після перевірки.",
		"Питання щодо ставок за депозитами; запропоновано депозит на 6 місяців.",
		"Клієнтка повідомила про втрату картки. Картку {o} заблоковано, замовлено нову.",
	},
	bankNote:      []string{"Просить документи українською, якщо можливо.", "Цікавиться інвестиційними фондами — призначити зустріч."},
	bankComplaint: []string{"Переказ {o} не надійшов отримувачу.", "Банкомат не видав готівку, але з рахунку списано {a}.", "Стягнули комісію за картку без підстав."},
	bankUpdate:    []string{"Скаргу зареєстровано і передано до відділу платежів."},
	bankClose:     []string{"Скаргу задоволено, {a} повернуто на рахунок.", "Скаргу відхилено: комісія відповідає тарифам."},
	bankClosure:   []string{"Перехід до іншого банку", "Занадто високі комісії", "Повернення в Україну"},
	bankMsg:       []string{"Ваша щомісячна виписка готова", "Новий ощадний рахунок: 6% на 3 місяці"},
	gameTicket:    []string{"Купив {p}, але нічого не отримав.", "Гра вилітає після оновлення."},
	gamePush:      []string{"Енергія відновлена — час грати!", "{n}, ми сумуємо! На вас чекають 200 кристалів"},
	praise:        []string{"Чудовий сервіс, дякую!", "Завжди допомагають."},
	gripe:         []string{"Занадто дорого.", "Довго чекав на відповідь."},
}

var textsDE = texts{
	d2cTicket: []string{
		"Hallo, meine Bestellung {o} ist angekommen, aber die Dose {p} ist verbeult und der Deckel schließt nicht mehr.",
		"Bestellung {o} ist nach {d} Tagen immer noch nicht da. Die Sendungsverfolgung zeigt nichts Neues.",
		"Mir wurde die Bestellung {o} doppelt abgebucht. Bitte erstatten Sie den zweiten Betrag.",
		"Der {p} schmeckt ganz anders als beim letzten Mal. Hat sich der Lieferant geändert?",
		"Meine Haut hat auf {p} reagiert. Ich möchte es zurückschicken.",
		"Wie kann ich mein Abo für einen Monat pausieren?",
	},
	d2cUpdate: []string{"Nachforschungsauftrag beim Paketdienst gestellt.", "Ersatz für {p} heute verschickt.", "Erstattung vom Lager freigegeben, Gutschrift in 3–5 Tagen."},
	d2cClose:  []string{"Erledigt: Ersatz zugestellt.", "Geschlossen nach Erstattung von {a}.", "Paket war beim Nachbarn. Geschlossen."},
	d2cNote: []string{"Trinkt nur losen Tee, möchte über die neue Darjeeling-Ernte informiert werden.", "Fragt nach Großhandelspreisen für ein Café — B2B-Preisliste geschickt.",
		"Stammkundin, bitte Probe von {p} beilegen."},
	d2cRefund:    []string{"Transportschaden", "Falscher Artikel", "Nicht mehr benötigt", "Abgelaufen"},
	d2cCancel:    []string{"Zu viel Tee zu Hause.", "Ziehe ins Ausland.", "Momentan zu teuer."},
	d2cSubject:   []string{"{n}, die neue Darjeeling-Ernte ist da", "Nur dieses Wochenende: kostenloser Versand", "{n}, 15 % auf Ihre Favoriten"},
	d2cOrderMail: []string{"Ihre Bestellung {o} ist bestätigt", "Vielen Dank für Ihre Bestellung {o}", "Bestellung {o} wurde versandt"},
	d2cRemind:    []string{"{n}, geht Ihr {p} zur Neige?", "Zeit zum Nachbestellen: {p}"},
	gameTicket:   []string{"Ich habe {p} gekauft, aber nichts erhalten. Bestellung {o}.", "Das Spiel stürzt seit dem Update beim Laden ab.", "Fortschritt nach Handywechsel verloren."},
	gamePush:     []string{"Deine Energie ist voll!", "Neues Event: Frostfest startet jetzt", "{n}, wir vermissen dich! 200 Edelsteine warten"},
	praise:       []string{"Toller Service, danke!", "Schnelle Lieferung.", "Immer hilfsbereit."},
	gripe:        []string{"Zu teuer.", "Viel zu lange auf Antwort gewartet.", "Die App stürzt ständig ab."},
	unsubscribe:  []string{"Über den Link in der E-Mail abgemeldet."},
}

var textsFR = texts{
	d2cTicket: []string{
		"Bonjour, ma commande {o} est arrivée mais la boîte de {p} est cabossée.",
		"La commande {o} n'est toujours pas arrivée après {d} jours.",
		"J'ai été débitée deux fois pour la commande {o}. Merci de rembourser le doublon.",
		"Le {p} n'a plus le même goût qu'avant. Avez-vous changé de fournisseur ?",
		"Comment suspendre mon abonnement pendant un mois ?",
	},
	d2cUpdate:    []string{"Enquête ouverte auprès du transporteur.", "Remplacement de {p} expédié aujourd'hui.", "Remboursement validé, crédit sous 3 à 5 jours."},
	d2cClose:     []string{"Résolu : remplacement livré.", "Clôturé après remboursement de {a}."},
	d2cNote:      []string{"Préfère le thé en vrac ; prévenir à l'arrivée de la nouvelle récolte.", "Cliente fidèle, ajouter un échantillon de {p}."},
	d2cRefund:    []string{"Endommagé pendant le transport", "Mauvais article", "Changement d'avis"},
	d2cCancel:    []string{"Trop de thé à la maison.", "Déménagement à l'étranger.", "Trop cher en ce moment."},
	d2cSubject:   []string{"{n}, la nouvelle récolte de Darjeeling est arrivée", "Livraison offerte ce week-end", "{n}, -15 % sur vos favoris"},
	d2cOrderMail: []string{"Votre commande {o} est confirmée", "Merci pour votre commande {o}", "Votre commande {o} a été expédiée"},
	d2cRemind:    []string{"{n}, bientôt à court de {p} ?"},
	gamePush:     []string{"Votre énergie est pleine !", "{n}, vous nous manquez ! 200 gemmes vous attendent"},
	praise:       []string{"Service impeccable, merci !", "Livraison rapide."},
	gripe:        []string{"Trop cher.", "Réponse beaucoup trop lente."},
	unsubscribe:  []string{"Désinscription via le lien de l'e-mail."},
}

var textsES = texts{
	d2cTicket: []string{
		"Hola, mi pedido {o} llegó pero la lata de {p} está abollada.",
		"El pedido {o} todavía no ha llegado después de {d} días.",
		"Me han cobrado dos veces el pedido {o}. Por favor, devolvedme el cargo duplicado.",
		"El {p} sabe muy distinto a la última vez. ¿Habéis cambiado de proveedor?",
	},
	d2cUpdate:    []string{"Abierta reclamación con la empresa de transporte.", "Enviado un {p} de reemplazo hoy."},
	d2cClose:     []string{"Resuelto: reemplazo entregado.", "Cerrado tras reembolsar {a}."},
	d2cNote:      []string{"Prefiere té a granel; avisar cuando llegue la nueva cosecha.", "Clienta habitual, añadir una muestra de {p}."},
	d2cRefund:    []string{"Dañado en el transporte", "Artículo equivocado", "Ya no lo necesito"},
	d2cCancel:    []string{"Demasiado té en casa.", "Me mudo al extranjero."},
	d2cSubject:   []string{"{n}, ya llegó la nueva cosecha de Darjeeling", "Envío gratis solo este fin de semana", "{n}, 15 % en tus favoritos"},
	d2cOrderMail: []string{"Tu pedido {o} está confirmado", "Gracias por tu pedido {o}", "Tu pedido {o} ha sido enviado"},
	d2cRemind:    []string{"{n}, ¿se te acaba el {p}?"},
	gameTicket:   []string{"Compré {p} pero no recibí nada. Pedido {o}.", "El juego se cierra al cargar desde la última actualización."},
	gamePush:     []string{"¡Tu energía está llena!", "{n}, ¡te echamos de menos! 200 gemas te esperan"},
	praise:       []string{"¡Muy buen servicio, gracias!", "Entrega rápida."},
	gripe:        []string{"Demasiado caro.", "Tardaron mucho en responder."},
}

var textsJA = texts{
	gameTicket: []string{"{p}を購入しましたが、アイテムが届いていません。注文番号 {o}。", "最新のアップデート以降、ロード画面でクラッシュします。",
		"機種変更したらデータが消えてしまいました。", "{a}請求されましたが、ジェムが反映されていません。"},
	gameUpdate: []string{"購入レシートの提出をお願いしました。", "クラッシュログを開発チームに転送しました。"},
	gameClose:  []string{"アイテムを付与しました。", "最新パッチで修正済みです。", "本人確認の上、データを復旧しました。"},
	gamePush:   []string{"スタミナが全回復しました！", "新イベント「雪まつり」開催中", "{n}さん、お久しぶりです！200ジェムをプレゼント"},
	praise:     []string{"とても楽しいです！", "サポートの対応が早くて助かりました。"},
	gripe:      []string{"課金しないと進めない。", "アップデート後に重くなった。"},
}
