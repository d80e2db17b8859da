"""Vocabulary for ``seed``: plain English words, names and section names (no external corpus)."""

SECTIONS = ["World", "Politics", "Business", "Technology", "Science", "Culture", "Sport", "Opinion"]

FIRST_NAMES = """Ada Alan Amara Ana Ben Bo Carla Chen Dana Dev Eli Emma Farah Femi Grace Hana Ian Ines
Jae Jon Kai Kemal Lena Luca Maya Mo Nia Noor Omar Pia Quinn Rafa Rosa Sam Sana Tariq Tess Uma Vic Wen
Xavi Yara Zoe""".split()

LAST_NAMES = """Abbott Adeyemi Bauer Costa Dubois Eriksen Fischer Garcia Haddad Ivanova Jensen Kato
Kowalski Larsen Moreau Nakamura Novak Okafor Patel Quist Rossi Santos Schmidt Tanaka Umar Varga Weber
Xu Yilmaz Zhang""".split()

WORDS = """able about across action after again against agency agree ahead air already also always
among analysis announce annual answer area army around art article attack authority average away back
bank base battle beach become before begin behind believe benefit best better between big bill black
board body book border both break bridge bring budget build business call campaign capital car card
care carry case cause central century chance change charge chief child choice church city claim class
clear climate close club coach coast cold college come common community company concern congress
consider continue control cost council country county court cover create crime crisis culture current
cut data deal death debate decade decide deep defence degree demand design detail develop die
difference direct director discover discuss disease doctor door draw dream drive drop early economy
edge education effect effort election end energy enough enter environment evening event evidence
exactly example expect experience expert explain face fact factor fail fall family farm father fear
federal feel field fight figure film final finance find fire firm first fish floor focus follow food
force foreign forest form former forward free friend front fuel full fund future game garden general
generation girl give glass global goal good government great green ground group grow growth guard
guess gun half hand happen hard head health hear heart heat heavy help high history hit hold home
hope hospital hotel hour house huge human idea image impact important improve include income increase
industry inside interest international interview investment island issue job join judge keep key kid
kind kitchen know labour lake land language large late law lead leader learn leave legal less letter
level library life light likely line list listen little local long look lose loss love low machine
magazine main major make manage market material matter measure media medical meet member memory
message method middle might military million mind minute miss mission model modern moment money month
morning mother mountain move movement music nation natural nature near need network never news next
night north note nothing notice number ocean offer office officer official often oil open operation
opinion option order organisation other outside owner page pain paper parent park part party pass
past patient pattern pay peace people period person phone physical picture piece place plan plant play
player point police policy political poor popular population position power practice prepare present
president pressure price private problem process produce product program project property protect
prove provide public pull purpose push quality question quickly race radio raise range rate reach
read ready real reason receive record recover reduce reform region release remain report research
resource response result return reveal rich right rise risk river road rock role room rule run safe
sale save scene school science score sea season seat second secret section security seek sell senior
sense series serve service set share shore short show side sign simple single sister site size skill
small social society soldier song sort sound source south space speak special speech spend sport
spring staff stage stand standard star start state station stay step stock stone store story strategy
street strong student study style subject success summer supply support surface system table talk task
tax teacher team technology television term test theory thing third thousand threat time today
together tonight total tough town trade traffic training travel treatment tree trial trip trouble true
trust truth turn type union unit university upon urban usually value various victim view village
violence visit voice vote wait walk wall war watch water wave wealth weapon weather week weight west
while white whole wide wife wind window winter wish woman wonder word work worker world worry write
writer wrong yard year young youth zone""".split()
