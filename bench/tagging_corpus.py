"""Texts for the tagging benchmark: parallel English / Korean sentences of each kind.

Sources (no network here, so nothing was copied from a live page):
- state_news, state_editorial, revolutionary lyrics: written for clipwatch in the
  stock phrasing of KCNA English releases, Rodong Sinmun editorials, Foreign
  Ministry statements and DPRK song titles ("respected Supreme Leader ... gave
  field guidance", "puppet traitors", "single-hearted unity", "No Motherland
  Without You", "Song of General Kim Il Sung"); the phrases are the outlets'
  recurring formulas, the sentences are not quotations of a dated broadcast.
- neutral_news: written in the style of wire-service copy (Reuters/AP/Yonhap),
  including neutral reporting about North Korea (hard negatives for propaganda).
- pop lyrics, neutral talk (cooking, travel, lectures, reviews): written for clipwatch.
Korean lines are translations of the English ones (DPRK spelling for the state
material: 로동, 령도자), so a Korean clip can carry an English "translation".

Each pool is split in two by position: even-indexed sentences build the training
set, odd-indexed ones the held-out evaluation set.
"""

from __future__ import annotations

POOLS: dict[str, list[tuple[str, str]]] = {
    "neutral_news": [
        ("The central bank kept interest rates unchanged on Thursday, citing slowing inflation.", "중앙은행은 목요일 물가 상승세 둔화를 이유로 기준금리를 동결했습니다."),
        ("Police said three people were injured when a bus collided with a truck this morning.", "경찰은 오늘 아침 버스와 트럭이 충돌해 세 명이 다쳤다고 밝혔습니다."),
        ("Officials in Seoul said a North Korean missile landed in the sea east of the peninsula.", "서울의 당국자들은 북한 미사일이 한반도 동쪽 바다에 떨어졌다고 밝혔습니다."),
        ("The government announced a new budget for schools and hospitals, the minister told reporters.", "정부는 학교와 병원을 위한 새 예산을 발표했다고 장관이 기자들에게 말했습니다."),
        ("Heavy rain is forecast for the southern provinces through the weekend, the weather service said.", "기상청은 주말까지 남부 지방에 많은 비가 예보됐다고 밝혔습니다."),
        ("Analysts say Kim Jong Un appeared in public for the first time in three weeks, according to state media.", "분석가들은 김정은이 3주 만에 처음으로 공개 석상에 나타났다고 전했습니다."),
        ("Parliament passed the election reform bill late on Tuesday after a long debate.", "국회는 화요일 늦게 긴 토론 끝에 선거 개혁 법안을 통과시켰습니다."),
        ("Shares in technology companies fell sharply, dragging the main index lower.", "기술 기업 주가가 급락하면서 주요 지수도 하락했습니다."),
        ("Our correspondent reports that talks between the two sides ended without an agreement.", "특파원 보도에 따르면 양측의 회담은 합의 없이 끝났습니다."),
        ("The United Nations said food shortages in North Korea remain severe, according to a new report.", "유엔은 새 보고서에서 북한의 식량 부족이 여전히 심각하다고 밝혔습니다."),
        ("In other news, the city will open a new subway line next month.", "다른 소식으로, 시는 다음 달 새 지하철 노선을 개통합니다."),
        ("The president met foreign ministers from the region at a summit on Monday.", "대통령은 월요일 정상회의에서 역내 외교장관들을 만났습니다."),
        ("Firefighters contained a forest fire that burned for two days near the coast.", "소방관들은 해안 근처에서 이틀 동안 타던 산불을 진화했습니다."),
        ("Good evening, here are tonight's headlines from around the country.", "안녕하십니까, 오늘 밤 전국의 주요 뉴스입니다."),
        ("Unemployment fell to its lowest level in a decade, the statistics agency reported.", "통계청은 실업률이 10년 만에 최저 수준으로 떨어졌다고 보도했습니다."),
        ("A spokesman for the ministry said the investigation would continue next week.", "부처 대변인은 다음 주에도 조사가 계속될 것이라고 말했습니다."),
    ],
    "state_news": [
        ("The respected Supreme Leader Kim Jong Un gave field guidance at a newly built fertilizer factory.", "경애하는 최고령도자 김정은동지께서 새로 건설된 비료공장을 현지지도하시였습니다."),
        ("Korean Central News Agency reports that the Party Central Committee convened an enlarged meeting today.", "조선중앙통신은 오늘 당중앙위원회 확대회의가 소집되였다고 보도하였습니다."),
        ("Workers pledged to defend the Party Central Committee with their lives, the agency said.", "로동자들은 당중앙위원회를 목숨으로 결사옹위할것을 맹세하였다고 통신은 전하였다."),
        ("The Supreme Leader expressed great satisfaction that the farm overfulfilled its grain plan.", "최고령도자께서는 농장이 알곡생산계획을 넘쳐 수행한데 대하여 커다란 만족을 표시하시였습니다."),
        ("The news agency reported that the puppet forces staged reckless military exercises near the border.", "통신은 괴뢰군부세력이 분계선 가까이에서 무모한 군사연습을 벌렸다고 보도하였다."),
        ("Respected Marshal Kim Jong Un inspected the test fire of a new type of tactical guided weapon.", "경애하는 원수님께서 신형전술유도무기 시험사격을 참관하시였습니다."),
        ("Today the people of the whole country celebrated the birthday of the great leader Kim Il Sung.", "오늘 온 나라 인민들은 위대한 수령 김일성동지의 탄생일을 경축하였습니다."),
        ("The Foreign Ministry spokesman said the hostile policy of the U.S. imperialists is the root cause of tension.", "외무성 대변인은 미제의 적대시정책이 긴장의 근원이라고 밝혔다."),
        ("Officials and working people vowed to carry out the decisions of the Party Congress through self-reliance.", "일군들과 근로자들은 자력갱생으로 당대회 결정을 관철할 결의를 다지였습니다."),
        ("The Supreme Leader's lofty intention was conveyed to the builders of the new housing district on Tuesday.", "화요일 새 살림집 건설자들에게 최고령도자의 숭고한 뜻이 전달되였습니다."),
        ("Here is the news. The General Secretary sent a congratulatory message to the heroic soldiers.", "보도입니다. 총비서동지께서 영웅적인 군인들에게 축하문을 보내시였습니다."),
        ("According to the agency, the glorious Workers' Party of Korea will lead the revolution to victory.", "통신에 의하면 영광스러운 조선로동당은 혁명을 승리로 이끌것이다."),
        ("At the meeting speakers denounced the puppet traitors of the South for their sycophantic treachery.", "회의에서 토론자들은 남조선 괴뢰역적들의 사대매국행위를 규탄하였다."),
        ("The Supreme Leader visited the construction site and praised the soldier-builders for their patriotic devotion.", "최고령도자께서 건설장을 찾으시고 군인건설자들의 애국적헌신을 높이 평가하시였습니다."),
        ("The Korean Central News Agency released a statement on the nuclear deterrent of the Republic.", "조선중앙통신은 공화국의 핵억제력에 관한 성명을 발표하였다."),
        ("This morning the Supreme Leader reviewed a parade marking the anniversary of the great victory.", "오늘 아침 최고령도자께서 위대한 승리 기념 열병식을 보시였습니다."),
    ],
    "state_editorial": [
        ("Let us all defend the great Party with single-hearted unity and boundless loyalty.", "모두다 일심단결과 끝없는 충성으로 위대한 당을 결사옹위하자."),
        ("The Juche idea is the eternal banner of our revolution and our invincible weapon.", "주체사상은 우리 혁명의 영원한 기치이며 불패의 무기이다."),
        ("The imperialists and their lackeys can never break the will of our heroic people.", "제국주의자들과 그 주구들은 결코 우리 영웅적인 인민의 의지를 꺾을수 없다."),
        ("Our style of socialism, centred on the popular masses, will advance forever.", "인민대중중심의 우리식 사회주의는 영원히 전진할것이다."),
        ("Under the wise guidance of the great leaders, the Chollima spirit blazes again.", "위대한 령도자들의 현명한 령도밑에 천리마정신이 다시 불타오른다."),
        ("The warmongers must know that the sword of justice of the Republic is always ready.", "전쟁광들은 공화국의 정의의 보검이 언제나 준비되여있다는것을 알아야 한다."),
        ("Self-reliance is the powerful sword with which we break through every blockade of the enemies.", "자력갱생은 원쑤들의 모든 봉쇄를 짓부시는 위력한 보검이다."),
        ("Every citizen must cherish boundless loyalty to the respected Supreme Leader.", "모든 공민은 경애하는 최고령도자께 끝없는 충성을 간직하여야 한다."),
        ("The traitors who betray the nation to the imperialists will be punished by history.", "민족을 제국주의자들에게 팔아먹는 역적들은 력사의 심판을 받을것이다."),
        ("Let us hold high the red flag of the revolution and march forward with Mallima speed.", "혁명의 붉은기를 높이 들고 만리마속도로 앞으로 나아가자."),
        ("The sacred motherland shines with glory under the banner of Kimilsungism-Kimjongilism.", "신성한 조국은 김일성김정일주의기치밑에 영광으로 빛난다."),
        ("The hostile forces must stop their despicable slander against our socialist system.", "적대세력들은 우리 사회주의제도에 대한 비렬한 비방을 당장 걷어치워야 한다."),
        ("The youth are the vanguard of the revolution, loyal to the Party to the end.", "청년들은 당에 끝까지 충실한 혁명의 척후대이다."),
        ("No force on earth can stop the advance of our people united around the leader.", "령도자를 중심으로 굳게 뭉친 우리 인민의 전진을 그 어떤 힘도 막을수 없다."),
        ("The people's happiness is the lofty ideal of the great Party and the leader.", "인민의 행복은 위대한 당과 령도자의 숭고한 리상이다."),
        ("The puppet clique's sycophantic treachery will bring only shame and ruin.", "괴뢰패당의 사대매국행위는 치욕과 파멸만을 가져올것이다."),
    ],
    "neutral_talk": [
        ("Hi everyone, today I'm going to show you how to make a simple kimchi stew at home.", "안녕하세요 여러분, 오늘은 집에서 간단한 김치찌개 만드는 법을 보여드릴게요."),
        ("First, cut the pork into small pieces and fry it with a little sesame oil.", "먼저 돼지고기를 작게 썰어서 참기름을 조금 두르고 볶아주세요."),
        ("In this lecture we will look at how photosynthesis turns light into chemical energy.", "이번 강의에서는 광합성이 빛을 화학 에너지로 바꾸는 과정을 살펴보겠습니다."),
        ("This phone has a bigger battery, but the camera is not as good as last year's model.", "이 휴대폰은 배터리가 더 크지만 카메라는 작년 모델만큼 좋지 않아요."),
        ("We arrived in Busan early in the morning and walked along the beach.", "우리는 아침 일찍 부산에 도착해서 해변을 따라 걸었어요."),
        ("Don't forget to like the video and subscribe if you found this useful.", "도움이 되셨다면 좋아요와 구독 잊지 마세요."),
        ("Let's solve the equation step by step, starting with the left side.", "왼쪽부터 시작해서 방정식을 차근차근 풀어봅시다."),
        ("The secret to a good sourdough is patience and a warm kitchen.", "좋은 사워도우 빵의 비결은 인내심과 따뜻한 부엌입니다."),
        ("Today we are testing three budget headphones to see which one sounds the best.", "오늘은 저렴한 헤드폰 세 개를 비교해서 어떤 게 소리가 제일 좋은지 알아볼게요."),
        ("The hiking trail is about six kilometres long and takes around three hours.", "이 등산로는 약 6킬로미터이고 세 시간 정도 걸립니다."),
        ("Next, add the garlic and onions and let them cook until soft.", "다음으로 마늘과 양파를 넣고 부드러워질 때까지 익혀주세요."),
        ("In the second half of the lecture we will discuss the history of the printing press.", "강의 후반부에서는 인쇄기의 역사에 대해 이야기하겠습니다."),
        ("My cat loves sleeping on the keyboard whenever I try to work.", "제 고양이는 제가 일하려고 할 때마다 키보드 위에서 자는 걸 좋아해요."),
        ("The museum is open every day except Monday, and tickets are cheaper online.", "박물관은 월요일을 빼고 매일 열고 표는 온라인이 더 쌉니다."),
        ("If your plant has yellow leaves, you are probably watering it too often.", "식물 잎이 노랗게 변한다면 아마 물을 너무 자주 주고 있는 거예요."),
        ("Thanks for watching, and see you in the next video.", "시청해 주셔서 감사하고 다음 영상에서 만나요."),
    ],
    "revolutionary_lyrics": [
        ("No motherland without you, dear leader, no life without you.", "당신이 없으면 조국도 없다, 당신이 없으면 우리도 없다."),
        ("Along the mountain ridges of Jangbaek, bloodstains glow, the great general.", "장백산 줄기줄기 피어린 자욱, 위대한 장군님."),
        ("We will defend the leader with our lives, the red flag flying high.", "결사옹위 하리라 우리 령도자, 붉은기 높이 날리며."),
        ("Glory to the Workers' Party, our mother, the guide of our revolution.", "영광스런 로동당 어머니 당이여, 혁명의 향도자여."),
        ("Dear Marshal, the sun of our nation, we follow you to the end.", "원수님 민족의 태양이시여, 끝까지 따르렵니다."),
        ("Forward, forward, Chollima soldiers, the sacred motherland calls.", "앞으로 앞으로 천리마 전사들, 신성한 조국이 부른다."),
        ("The imperialists tremble before our invincible army of the revolution.", "제국주의자들은 우리 불패의 혁명군대 앞에 떤다."),
        ("Single-hearted unity, we are one with the great leader forever.", "일심단결 우리는 위대한 령도자와 영원히 하나."),
        ("The song of loyalty rings out across the mountains and rivers of Juche Korea.", "충성의 노래 울려퍼지네 주체조선 강산에."),
        ("Our general is the iron-willed brilliant commander, the heroic people sing.", "우리 장군님은 강철의 령장, 영웅인민은 노래하네."),
        ("The Party's call is our life, we march on with Mallima speed.", "당의 부름은 우리의 생명, 만리마속도로 나아가리."),
        ("Red flag of the revolution, we shall guard it with our hearts.", "혁명의 붉은기 우리 심장으로 지키리라."),
    ],
    "pop_lyrics": [
        ("Baby, I can't stop thinking about you, my heart is beating fast.", "그대 생각에 멈출 수가 없어요, 내 마음이 두근거려요."),
        ("We dance all night under the city lights, oh oh oh.", "도시의 불빛 아래서 밤새 춤을 춰요, 오 오 오."),
        ("I remember summer days by the sea, la la la.", "바닷가의 여름날을 기억해요, 라 라 라."),
        ("Hold my hand and never let me go, my love.", "내 손을 잡고 놓지 마요, 내 사랑."),
        ("The rain falls softly on the window, I miss you tonight.", "창가에 비가 살며시 내려요, 오늘 밤 그대가 그리워요."),
        ("Shine like a star, you are my everything.", "별처럼 빛나요, 그대는 나의 전부."),
        ("Running through the streets, we are young and free.", "거리를 달려요, 우리는 젊고 자유로워요."),
        ("Tell me that you love me, say it one more time.", "사랑한다고 말해줘요, 한 번만 더."),
        ("Every morning I wake up with your smile in my heart.", "매일 아침 그대 미소를 마음에 품고 일어나요."),
        ("Sing with me, baby, the music never ends.", "나와 함께 노래해요, 음악은 끝나지 않아요."),
        ("Autumn leaves are falling and I think of you again.", "가을 낙엽이 지고 또 그대를 생각해요."),
        ("Fly away with me into the summer sky.", "나와 함께 여름 하늘로 날아가요."),
    ],
}

HALLUCINATIONS = [
    ("Thank you for watching!", "시청해주셔서 감사합니다."),
    ("Please subscribe to the channel.", "구독과 좋아요 부탁드립니다."),
    ("♪", "♪"),
    ("Thank you.", "감사합니다."),
]

TITLES: dict[str, list[tuple[str, str]]] = {
    "neutral_news": [("Evening news: {d}", "저녁 뉴스 {d}"), ("Headlines — {d}", "주요 뉴스 {d}"), ("Morning briefing", "아침 뉴스 브리핑"),
                     ("Breaking: markets fall", "속보: 증시 하락"), ("Weekly news roundup", "주간 뉴스 정리"), ("Noon report", "정오 뉴스")],
    "state_news": [("KCTV evening news {d}", "조선중앙TV 보도 {d}"), ("Report of the Korean Central News Agency", "조선중앙통신 보도"),
                   ("Supreme Leader inspects factory", "최고령도자 공장 현지지도"), ("News {d}", "보도 {d}"), ("Today's news bulletin", "오늘의 보도")],
    "state_editorial": [("Editorial", "사설"), ("Let us defend the Party with our lives", "당을 결사옹위하자"), ("Commentary", "론평"),
                        ("On the Juche idea", "주체사상에 대하여"), ("Talk for the youth", "청년들에게 주는 강연")],
    "neutral_talk": [("Easy kimchi stew recipe", "초간단 김치찌개 레시피"), ("Lecture 4: photosynthesis", "4강: 광합성"),
                     ("Budget headphones review", "가성비 헤드폰 리뷰"), ("Busan travel vlog", "부산 여행 브이로그"), ("Daily vlog", "일상 브이로그")],
    "revolutionary_lyrics": [("No Motherland Without You", "당신이 없으면 조국도 없다"), ("Song of General Kim Il Sung", "김일성장군의 노래"),
                             ("We Will Defend the Leader", "결사옹위가"), ("Glory to the Party", "영광스런 로동당"), ("Forward Chollima", "천리마 행진곡")],
    "pop_lyrics": [("Summer Nights (Official MV)", "여름밤 (뮤직비디오)"), ("My Love - lyrics", "내 사랑 (가사)"), ("City Lights", "도시의 불빛"),
                   ("Rain song live", "비 노래 라이브"), ("Star (official audio)", "별 (음원)")],
    "instrumental": [("Relaxing piano for study", "공부할 때 듣는 피아노"), ("Lofi beats", "로파이 비트"), ("Chiptune mix", "칩튠 모음"),
                     ("Hold music", "대기 음악"), ("Background music {d}", "배경음악 {d}")],
    "state_instrumental": [("Song of General Kim Il Sung (instrumental)", "김일성장군의 노래 (경음악)"), ("Moranbong Band concert", "모란봉악단 공연"),
                           ("March of the Workers' Party", "로동당 행진곡"), ("Orchestral medley for the Party anniversary", "당창건 기념 관현악"),
                           ("Instrumental: We Will Follow the Marshal", "경음악: 원수님 따라 천만리")],
}

NEUTRAL_CHANNELS = {
    "neutral_news": [("Metro News 24", "https://www.youtube.com/@metronews24"), ("한빛뉴스", "https://www.youtube.com/@hanbitnews"),
                     ("World Report", "https://vimeo.com/worldreport")],
    "state_news": [("Korea Watch Archive", "https://www.youtube.com/@koreawatcharchive"), ("NK reposts", "https://www.youtube.com/@nkreposts")],
    "state_editorial": [("Korea Watch Archive", "https://www.youtube.com/@koreawatcharchive"), ("unification talk", "https://www.youtube.com/@unitalk")],
    "neutral_talk": [("Mika's Kitchen", "https://www.youtube.com/@mikaskitchen"), ("Science Hour", "https://www.youtube.com/@sciencehour"),
                     ("Travel with Jae", "https://vimeo.com/travelwithjae")],
    "revolutionary_lyrics": [("Korean songs archive", "https://www.youtube.com/@krsongs"), ("MusicBox", "https://soundcloud.com/musicbox")],
    "pop_lyrics": [("케이팝 채널", "https://www.youtube.com/@kpopch"), ("MusicBox", "https://soundcloud.com/musicbox")],
    "instrumental": [("Piano Moods", "https://www.youtube.com/@pianomoods"), ("LoFi Beats", "https://soundcloud.com/lofibeats")],
    "state_instrumental": [("Korean songs archive", "https://www.youtube.com/@krsongs"), ("MusicBox", "https://soundcloud.com/musicbox")],
}

# registry outlets used in the metadata variations, as (channel name, channel URL)
REGISTRY_CHANNELS = [
    ("Uriminzokkiri", "https://www.youtube.com/user/uriminzokkiri"),
    ("조선중앙TV", None),
    ("DPRK Today", "http://dprktoday.com/videos"),
    ("KCTV", None),
    ("Arirang Meari", "http://arirangmeari.com"),
    ("Sogwang", "http://ssogwang.com/video/1"),
    ("Echo of Truth", None),
    ("Voice of Korea", "http://vok.rep.kp"),
]

PLATFORM_CATEGORY = {
    "neutral_news": "News & Politics", "state_news": "News & Politics", "state_editorial": "News & Politics",
    "neutral_talk": "Education", "revolutionary_lyrics": "Music", "pop_lyrics": "Music", "instrumental": "Music",
    "state_instrumental": "Music",
}
